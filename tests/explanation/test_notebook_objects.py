"""Notebook-grade objects: inline figures, Explanation HTML, short reprs, quiet progress bars."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from kgif.data.datasets import load_dataset
from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation, Influence, explain
from kgif.influence.tracin import TracIn
from kgif.model.conve import ConvEConfig
from kgif.training.loop import TrainingConfig, train

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    kg = load_dataset("nations")
    torch.manual_seed(0)
    result = train(kg, ConvEConfig(embedding_dim=8, output_channels=2),
                   TrainingConfig(epochs=2, eval_every=1, checkpoint_every=1),
                   show_progress=False)
    return kg, result


def _tricky_graph() -> KnowledgeGraph:
    """Labels, names and kinds that need escaping in HTML."""
    triples = torch.tensor([[0, 0, 1], [1, 0, 2], [2, 0, 0]])
    return KnowledgeGraph({"DOID:<1>": 0, "a&b": 1, 'q"x': 2}, {"treats<script>": 0}, triples,
                          testing=torch.tensor([[0, 0, 2]]),
                          entity_names={0: "<i>Drug</i>", 1: "B & C", 2: "Disease"},
                          entity_kinds={0: "Compound<x>", 1: "Gene", 2: "Disease"},
                          name="tricky")


def _explanation(kg: KnowledgeGraph | None) -> Explanation:
    return Explanation((0, 0, 2), 0.5, [Influence(0, (0, 0, 1), 0.25, 1.5, "proponent", 1),
                                        Influence(1, (1, 0, 2), 0.125, None, "proponent", 2)],
                       [Influence(2, (2, 0, 0), -0.0625, 2.0, "opponent", 1)], kg)


def test_explanation_html_has_names_kinds_scores_summary_and_escapes():
    html = _explanation(_tricky_graph())._repr_html_()
    assert "<i>" not in html and "<script>" not in html and "Compound<x>" not in html
    assert "&lt;i&gt;Drug&lt;/i&gt; [Compound&lt;x&gt;] --treats&lt;script&gt;--&gt; Disease " \
           "[Disease]" in html
    assert 'title="DOID:&lt;1&gt;"' in html and "B &amp; C" in html
    assert "<td>+0.25</td>" in html and "<td>+0.125</td>" in html and "<td>-0.0625</td>" in html
    assert "<td>1.5</td>" in html and "(self-influence 0.5)" in html
    assert "proponents by relation: treats&lt;script&gt; 2" in html
    assert "proponents by kinds: Compound&lt;x&gt;-&gt;Gene 1, Gene-&gt;Disease 1" in html
    assert html.count("<tr>") == 4  # header + 2 proponents + 1 opponent


def test_explanation_repr_short_with_names_or_ids():
    named = repr(_explanation(_tricky_graph()))
    assert named == ("Explanation(<i>Drug</i> [Compound<x>] --treats<script>--> Disease "
                     "[Disease], 2 proponents (top +0.25), 1 opponents (top -0.0625), "
                     "self-influence 0.5)")
    bare = _explanation(None)
    assert repr(bare).startswith("Explanation(entity 0 --relation 0--> entity 2, 2 proponents")
    assert "<td>0</td>" in bare._repr_html_()
    assert bare == _explanation(_tricky_graph())  # the graph is not compared


def test_reprs_are_short_and_informative(trained):
    kg, result = trained
    for obj, must in ((kg, ["nations", "14 entities", "55 relations", "1592/199/201"]),
                      (result, ["2 epochs", "best epoch", "loss"]),
                      (result.best, ["epoch", "lr 0.003", "d=8", "14 entities"])):
        text = repr(obj)
        assert len(text) < 500 and "tensor(" not in text, text
        assert all(m in text for m in must), text
    tracin = TracIn([result.final], kg.training, show_progress=False)
    text = repr(tracin)
    assert len(text) < 500 and "tensor(" not in text
    assert "1 checkpoints" in text and "1592 training edges" in text and "train=score" in text
    ex = explain(tracin, kg.testing[:1], k=2, kg=kg)[0]
    h, r, t = kg.testing[0].tolist()
    assert repr(ex).startswith(f"Explanation({kg.entity_name(h)} --{kg.relation_name(r)}--> "
                               f"{kg.entity_name(t)}, 2 proponents (top +")
    assert len(repr(ex)) < 500


def test_a_returned_figure_displays_as_png_without_pyplot(trained):
    from IPython.core.formatters import DisplayFormatter

    from kgif.explanation.plot import plot_explanation

    kg, result = trained
    ex = explain(TracIn([result.final], kg.training, show_progress=False), kg.testing[:1], k=3,
                 kg=kg)[0]
    fig = plot_explanation(ex, kg, k=3, figsize=(10, 7))
    data, _ = DisplayFormatter().format(fig)  # what a Jupyter cell returning ``fig`` shows
    assert data["image/png"].startswith(PNG_MAGIC)
    html, _ = DisplayFormatter().format(ex)
    assert "<table" in html["text/html"]


def test_kgif_imports_neither_pyplot_nor_tqdm_auto():
    """tqdm.auto warns "IProgress not found" at import in a kernel without ipywidgets."""
    code = ("import sys, kgif, kgif.cli, kgif.explanation.plot, kgif.explanation.figure; "
            "print(*(m in sys.modules for m in ('matplotlib.pyplot', 'tqdm.auto', "
            "'tqdm.autonotebook', 'tqdm.notebook')))")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                         timeout=300)
    assert out.stdout.split() == ["False"] * 4 and out.stderr == ""


_CLI_RUN = textwrap.dedent("""
    import sys
    from kgif.cli import main
    out = sys.argv[1]
    assert main(["train", "--dataset", "nations", "--epochs", "1", "--embedding-dim", "8",
                 "--output-channels", "2", "--checkpoint-every", "1", "--eval-every", "1",
                 "--output-dir", out]) == 0
    assert main(["explain", "--checkpoints", out + "/checkpoints", "--test-relation",
                 "embassy", "--limit", "1", "--top-k", "2", "--filter-hops", "1"]) == 0
""")


def _cli_stderr(tmp_path: Path, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    result = subprocess.run([sys.executable, "-c", _CLI_RUN, str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=600,
                            env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr


@pytest.mark.slow
def test_tqdm_disable_silences_every_bar(tmp_path):
    shown = _cli_stderr(tmp_path / "shown", {})
    for bar in ("train: 100%", "TracIn: 100%", "self-influence: 100%"):
        assert bar in shown, bar  # without the setting the bars are there
    quiet = _cli_stderr(tmp_path / "quiet", {"TQDM_DISABLE": "1"})
    assert "%|" not in quiet and "it/s" not in quiet and "batch/s" not in quiet, quiet

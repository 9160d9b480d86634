"""Run report: figures from a real batch output folder, a self-contained report.html."""

from __future__ import annotations

import base64
import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from figure_helpers import explained

from kgif.cli import main
from kgif.explanation.plot import write_figures
from kgif.jobs.explain_run import RunOptions, explain_all, triple_stem
from kgif.jobs.html_report import RUN_FIGURES, read_run, run_figures


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.tags, self.scripts = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "script":
            self.scripts.append(attrs)


def _run(tmp_path: Path, self_influence: bool = True):
    kg, tracin, explanations, paths = explained(k=3)
    out = tmp_path / "run"
    explain_all(tracin, kg, kg.testing, out, RunOptions(k=3, self_influence=self_influence))
    return kg, explanations, paths, out


def test_report_html_is_self_contained_and_links_resolve(tmp_path, capsys):
    kg, explanations, paths, out = _run(tmp_path)
    stem = triple_stem(0, explanations[0].triple, kg)
    write_figures(explanations[0], kg, out / stem, paths[0], k=3, dpi=40)
    assert main(["report", str(out)]) == 0
    assert "report.html" in capsys.readouterr().out
    text = (out / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert len(page.images) == len(RUN_FIGURES) + 1  # + the one triple figure written
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing fetched: no external stylesheet, frame or script file; networks as inline JSON
    assert not {"link", "iframe"} & set(page.tags)
    assert all("src" not in attrs for attrs in page.scripts)
    assert [a.get("type") for a in page.scripts].count("application/json") == 3
    assert sum(not a for a in page.scripts) == 2  # Cytoscape.js + the page script
    assert 'src="http' not in text and 'href="http' not in text
    details = [h for h in page.links if h.startswith("#triple-")]
    assert details == ["#triple-1", "#triple-2", "#triple-3"]  # one table row per triple
    assert all(f'id="{h[1:]}"' in text for h in details)
    assert "How to read this report" in text and "Cytoscape.js 3.35.0" in text
    for href in [h for h in page.links if not h.startswith("#")]:
        assert not urlparse(href).scheme and not href.startswith("/")
        assert (out / unquote(href)).is_file(), href
    assert f"{stem}.png" in {unquote(h) for h in page.links}
    assert f"{stem}.svg" in {unquote(h) for h in page.links}
    other = triple_stem(1, explanations[1].triple, kg)
    assert f"{other}.png" not in {unquote(h) for h in page.links}
    assert all((out / name).is_file() for name in RUN_FIGURES)


def test_figures_count_what_the_explanations_hold(tmp_path):
    kg, explanations, _, out = _run(tmp_path)
    figures = run_figures(read_run(out), top=1)
    bars = figures["proponents_by_relation.png"].axes[0].patches
    labels = [t.get_text() for t in figures["proponents_by_relation.png"].axes[0]
              .get_yticklabels()]
    got = {label: bar.get_width() for label, bar in zip(labels, bars, strict=True)}
    expected = Counter(kg.relation_name(p.triple[1]) for ex in explanations
                       for p in ex.proponents)
    assert got == expected
    hist = figures["influence_distribution.png"].axes[0]
    heights = [sum(b.get_height() for b in c) for c in hist.containers]
    assert heights == [sum(len(ex.proponents) for ex in explanations),
                       sum(len(ex.opponents) for ex in explanations)]
    box = figures["self_influence.png"].axes[0]
    ticks = [t.get_text() for t in box.get_yticklabels()]
    n_top = sum(1 for ex in explanations for p in ex.proponents if p.rank == 1)
    n_rest = sum(len(ex.influences) for ex in explanations) - n_top
    assert ticks == [f"rank 1-1 proponents\n(n={n_top})", f"other reported edges\n(n={n_rest})"]


def test_missing_self_influence_is_said_in_the_figure(tmp_path):
    _, _, _, out = _run(tmp_path, self_influence=False)
    fig = run_figures(read_run(out))["self_influence.png"]
    assert any("no self-influence" in t.get_text() for t in fig.axes[0].texts)


def test_bad_and_foreign_files(tmp_path, capsys):
    _, _, _, out = _run(tmp_path)
    (out / "notes.json").write_text('{"hello": 1}\n', encoding="utf-8")
    data = read_run(out)
    assert [name for name, _ in data.skipped] == ["notes.json"]
    assert main(["report", str(out)]) == 0
    assert "notes.json" in (out / "report.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as info:  # an argparse type: refused before any work
        main(["report", str(out), "--detailed", "-1"])
    assert info.value.code == 2
    assert main(["report", str(out), "--detailed", "1"]) == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="triple-1"' in text and 'id="triple-2"' not in text
    assert "Sections for the first 1 test triples only" in text
    victim = sorted(out.glob("00001__*.json"))[0]
    document = json.loads(victim.read_text(encoding="utf-8"))
    document["results"][0]["influences"][0]["influence"] = None
    victim.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match=f"{victim.name}.*not a finite number"):
        read_run(out)
    victim.write_text("{not json", encoding="utf-8")
    assert main(["report", str(out)]) == 2
    assert victim.name in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no per-triple explanation"):
        read_run(tmp_path / "empty")

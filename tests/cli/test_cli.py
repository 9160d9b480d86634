"""CLI plumbing: flag validation, no prefix matching, checkpoint/dataset checks, logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from helpers import graph_checkpoints, small_conve
from tqdm import tqdm

from kgif.cli import build_parser, main
from kgif.cli._common import TqdmHandler, check_device, load_graph_for, setup_logging
from kgif.cli.explain import summarize_rates
from kgif.data.build import from_label_triples
from kgif.data.datasets import load_dataset
from kgif.data.tsv import write_label_triples
from kgif.model.checkpoint import Checkpoint, save_checkpoint

EXPLAIN = ["explain", "--checkpoints", "missing-folder", "--test-relation", "treats"]


@pytest.fixture
def root_logger():
    """Restore the root logger's level and handlers after a test that sets up logging."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


def test_no_parser_accepts_abbreviated_flags():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "explain" in a.choices)
    assert parser.allow_abbrev is False
    assert {name: p.allow_abbrev for name, p in subparsers.choices.items()} == {
        "train": False, "evaluate": False, "predict": False, "explain": False, "convert": False,
        "report": False, "faithfulness": False, "split": False, "workflow": False,
        "drugmechdb": False}


def test_output_is_not_taken_as_output_dir(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(EXPLAIN + ["--output", "out.json"])
    assert info.value.code == 2
    assert "unrecognized arguments: --output out.json" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--limit", "-1"), ("--limit", "0"), ("--paths", "-1"),
                                         ("--paths", "0"), ("--top-k", "0"),
                                         ("--chunk-size", "0"), ("--batch-size", "-3"),
                                         ("--max-paths", "0"), ("--filter-hops", "-1")])
def test_bad_counts_are_refused_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(EXPLAIN + [flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and f"got {value}" in err


def test_evaluate_batch_size_is_validated(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--checkpoint", "x.pt", "--batch-size", "0"])
    assert "argument --batch-size: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_quiet_without_output_dir_is_refused_before_loading(capsys, root_logger):
    assert main(EXPLAIN + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--quiet needs --output-dir" in err and "missing-folder" not in err


def test_limit_without_test_relation_is_refused(capsys, root_logger):
    args = ["explain", "--checkpoints", "missing-folder", "--test-triple", "a", "r", "b",
            "--limit", "3"]
    assert main(args) == 2
    assert "--limit applies to --test-relation or --predictions" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error(capsys, root_logger):
    with pytest.raises(ValueError, match="--device: 'cuda' asked for, but there is no CUDA device"):
        check_device("cuda")
    assert main(EXPLAIN + ["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert check_device("cpu") == "cpu" and check_device(None) is None


def _dataset(folder: Path, n_entities: int, relations: tuple[str, ...]) -> None:
    triples = [(f"e{i}", relations[i % len(relations)], f"e{(i + 1) % n_entities}")
               for i in range(n_entities)]
    write_label_triples(folder / "train.txt", triples)


def test_load_graph_for_checks_maps_and_sizes(tmp_path):
    _dataset(tmp_path / "small", 6, ("r0", "r1"))
    _dataset(tmp_path / "renamed", 8, ("r0", "r2"))
    kg = load_dataset(tmp_path / "small")
    ckpt = graph_checkpoints(kg)[0]
    loaded = load_graph_for(ckpt, str(tmp_path / "small"), "evaluate", "a.pt")
    assert loaded.entity_to_id == {"e0": 0, "e1": 1, "e2": 2, "e3": 3, "e4": 4, "e5": 5}
    assert loaded.relation_to_id == {"r0": 0, "r1": 1}
    with pytest.raises(ValueError, match="the entity ids of .* do not match dataset 'renamed'"):
        load_graph_for(ckpt, str(tmp_path / "renamed"), "evaluate", "a.pt")
    ckpt.entity_to_id, ckpt.relation_to_id = {}, {}  # map-less: only sizes can be compared
    with pytest.raises(ValueError, match=r"has 6 rows in 'entity_embedding' but "
                                         r"dataset 'renamed' has 8 entities"):
        load_graph_for(ckpt, str(tmp_path / "renamed"), "explain", "a.pt")
    ckpt.relation_to_id = {"r0": 0, "r9": 1}
    with pytest.raises(ValueError, match="relation ids of .* do not match dataset 'small'"):
        load_graph_for(ckpt, str(tmp_path / "small"), "explain", "a.pt")


def test_explain_refuses_a_model_of_another_size(tmp_path, capsys, root_logger):
    kg = from_label_triples([(f"e{i}", "r", f"e{i + 1}") for i in range(5)], name="five")
    _dataset(tmp_path / "data", 7, ("r",))
    config, params, buffers = small_conve(num_entities=kg.num_entities,
                                          num_relations=kg.num_relations)
    save_checkpoint(Checkpoint(params, buffers, config, 0.1, epoch=1), tmp_path / "c.pt")
    code = main(["explain", "--checkpoints", str(tmp_path / "c.pt"), "--dataset",
                 str(tmp_path / "data"), "--test-triple", "e0", "r", "e1", "--no-progress"])
    assert code == 2
    assert "rows in 'entity_embedding'" in capsys.readouterr().err


def test_learning_rates_are_summarised():
    assert summarize_rates([0.5]) == "learning rate 0.5"
    # 1e-3 * 0.8^k, k < 20: min 1e-3 * 0.8^19 = 1.4412e-5; median (0.8^9 + 0.8^10) / 2 * 1e-3
    # = 1.20796e-4; sum 1e-3 * (1 - 0.8^20) / 0.2 = 4.94235e-3 (4 significant digits shown)
    rates = [1e-3 * 0.8 ** k for k in range(20)]
    assert summarize_rates(rates) == ("20 learning rates: min 1.441e-05, median 0.0001208, "
                                      "max 0.001, sum 0.004942")


def test_logs_go_through_tqdm_write_on_rank_0_only(monkeypatch, root_logger):
    written = []
    monkeypatch.setattr(tqdm, "write", classmethod(lambda cls, s, file=None, **kw:
                                                    written.append(s)))
    monkeypatch.delenv("RANK", raising=False)
    handler = setup_logging()
    assert isinstance(handler, TqdmHandler)
    assert sum(isinstance(h, TqdmHandler) for h in root_logger.handlers) == 1
    logging.getLogger("kgif.test").info("chunk 3 of 9 done")
    assert len(written) == 1 and written[0].endswith("INFO kgif.test: chunk 3 of 9 done")
    monkeypatch.setenv("RANK", "1")
    setup_logging()
    assert sum(isinstance(h, TqdmHandler) for h in root_logger.handlers) == 1
    logging.getLogger("kgif.test").info("again")
    logging.getLogger("kgif.test").error("a failure")
    assert len(written) == 2 and written[1].endswith("a failure")

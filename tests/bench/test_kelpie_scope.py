"""benchmarks/kelpie_scope.py: the class of a training fact relative to a target, by hand, and
the whole script on a toy study (two cached rankings written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_benchmark_script


@pytest.fixture(scope="module")
def scope():
    return load_benchmark_script("kelpie_scope")


@pytest.mark.parametrize(("fact", "expected"), [
    ((1, 5, 9), "h"),          # h as head
    ((7, 3, 1), "h"),          # h as tail
    ((1, 2, 3), "h"),          # h as head, same relation and tail: still "h"
    ((8, 2, 3), "(x, r, t)"),  # another head, same relation, same tail
    ((3, 4, 8), "t"),          # t as head
    ((8, 4, 3), "t"),          # t as tail, other relation
    ((8, 2, 9), "neither"),    # same relation only
])
def test_classify_by_hand(scope, fact, expected):
    assert scope.classify(fact, (1, 2, 3)) == expected


def _write_rankings(folder: Path, rows: list[list[int]], scores: list[list[float]]) -> None:
    (folder / "rankings").mkdir(parents=True)
    (folder / "rankings" / "tracin-0123.json").write_text(
        json.dumps({"rows": rows, "scores": scores, "seconds": 1.0}))


def test_script_on_a_toy_study(scope, tmp_path, capsys):
    data = tmp_path / "toy"
    data.mkdir()
    train = ["a\tr\tb", "c\tr\tb", "b\ts\td", "a\ts\tc", "d\ts\tc", "e\tr\tf"]
    (data / "train.txt").write_text("\n".join(train) + "\n")
    (data / "valid.txt").write_text("c\ts\ta\n")
    (data / "test.txt").write_text("a\tr\tf\nc\ts\tb\n")
    targets = tmp_path / "targets.tsv"
    targets.write_text("a\tr\tf\nc\ts\tb\n")
    # target 0 = (a, r, f): all-facts top 4 = rows 5 (e r f: (x, r, t)), 0 (a r b: h),
    # 1 (c r b: neither, same relation), 2 (b s d: neither); best head fact row 0 (score 2 of 4)
    # target 1 = (c, s, b): top 4 = rows 1 (c r b: h), 2 (b s d: t), 0 (a r b: t), 4 (d s c: h);
    # best head fact row 1 = the best overall (score 3 of 3)
    _write_rankings(tmp_path / "head", [[0, 3, -1, -1], [1, 3, 4, -1]],
                    [[2.0, 1.0, None, None], [3.0, 1.0, 0.5, None]])
    _write_rankings(tmp_path / "all", [[5, 0, 1, 2], [1, 2, 0, 4]],
                    [[4.0, 2.0, 1.0, 0.5], [3.0, 2.0, 1.0, 0.5]])
    out = tmp_path / "scope.json"
    assert scope.main(["--dataset", str(data), "--head-cache", str(tmp_path / "head"),
                       "--all-cache", str(tmp_path / "all"), "--targets-file", str(targets),
                       "--output", str(out)]) == 0
    text = capsys.readouterr().out
    # top 1: one "(x, r, t)" (target 0), one "h" (target 1); same relation: row 5 (r = r) and
    # row 1 (r != s) -> 1.  top 4: h = 1 + 2, (x, r, t) = 1, t = 2, neither = 2; same relation:
    # target 0 rows 5, 0, 1 (r) -> 3; target 1 rows 2, 4 (s) -> 2
    assert "| top 1 (2 facts) | 1 | 1 | 0 | 0 | 1 |" in text
    assert "| top 4 (8 facts) | 3 | 1 | 2 | 2 | 5 |" in text
    assert "best fact overall for 1 of 2 targets and among the top 4 overall for 2" in text
    # (x, r, t) facts in training: (a, r, f) has one (e r f); (c, s, b) none (b s d, d s c
    # are other tails) -> quantiles of (0, 1) taken at the lower value: 0, 0, 0; both <= 4
    assert "10 % 0, median 0, 90 % 0; 2 targets have at most 4." in text
    saved = json.loads(out.read_text())
    assert saved["classes"] == [["(x, r, t)", "h", "neither", "neither"], ["h", "t", "t", "h"]]
    assert saved["score_ratio_head_over_all"] == [0.5, 1.0]
    assert saved["all_top4"][0][0] == ["e", "r", "f"]
    assert saved["peers_x_r_t"] == [1.0, 0.0]


def test_script_refuses_two_rankings(scope, tmp_path):
    _write_rankings(tmp_path / "head", [[0]], [[1.0]])
    (tmp_path / "head" / "rankings" / "tracin-4567.json").write_text("{}")
    with pytest.raises(SystemExit, match="expected one cached tracin ranking"):
        scope._tracin_ranking(tmp_path / "head")

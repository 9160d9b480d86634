"""benchmarks/kelpie_margins.py's pure parts against hand-computed cases: the flip overlaps and
the paired margin changes."""

from __future__ import annotations

import pytest
from helpers import load_benchmark_script


@pytest.fixture(scope="module")
def margins():
    return load_benchmark_script("kelpie_margins")


def test_flip_overlaps_by_hand(margins, capsys):
    flips = {"tracin@1": [True, True, False, False], "random@1": [True, False, True, False],
             "null_seed1": [False, True, True, True]}
    margins._flip_overlaps(flips)
    text = capsys.readouterr().out
    # tracin@1 & random@1 share target 0; expected 2 * 2 / 4 = 1.0. tracin & null share 1
    # (expected 2 * 3 / 4 = 1.5); random {0, 2} & null {1, 2, 3} share target 2 (1.5)
    assert "| tracin@1 (2) | 1 (1.0) | 1 (1.5) |" in text
    assert "| random@1 (2) |  | 1 (1.5) |" in text


def test_paired_margin_changes_by_hand(margins, capsys):
    out = {"margin_change": {"tracin@1": [-1.0, -2.0, -3.0, -4.0],
                             "random@1": [0.0, 0.0, 0.0, 0.0],
                             "null_seed1": [1.0, 1.0, 1.0, 1.0]}}
    margins._paired_margin_changes(out)
    paired = out["margin_change_paired"]
    assert paired["tracin@1 - null_seed1"]["mean"] == pytest.approx(-3.5)
    assert paired["tracin@1 - random@1"]["mean"] == pytest.approx(-2.5)
    assert paired["random@1 - null_seed1"]["mean"] == pytest.approx(-1.0)
    assert "random@1 - random@1" not in paired and "null_seed1 - null_seed1" not in paired
    # four differences of one sign: the sign-flip p is 2 / 16 (both all-same-sign patterns)
    assert paired["tracin@1 - null_seed1"]["p"] == pytest.approx(0.125, abs=0.02)
    assert "| tracin@1 | -3.50 [" in capsys.readouterr().out
    out["margin_change"]["tracin@budget226"] = [2.0, 2.0, 2.0, 2.0]
    out["margin_change"]["random@budget226"] = [0.5, 0.5, 0.5, 0.5]
    margins._paired_margin_changes(out)
    paired = out["margin_change_paired"]
    assert paired["tracin@budget226 - random@budget226"]["mean"] == pytest.approx(1.5)
    assert "tracin@budget226 - random@1" not in paired
    assert "(random@budget226), p = " in capsys.readouterr().out


def test_robust_flips_by_hand(margins, capsys):
    # targets 0..5; the noise rows flip 1 and 4, so the robust targets are 0, 2, 3, 5
    out = {"flips": {"null_seed1": [False, True, False, False, False, False],
                     "null_seed2": [False, False, False, False, True, False],
                     "tracin@1": [True, True, True, False, False, True],
                     "random@1": [False, True, True, False, True, False],
                     "tracin@budget226": [True, False, False, False, False, False],
                     "tracin@2": [True, False, False, False, False, False]}}
    margins._robust_flips(out)
    assert out["robust_targets"] == [0, 2, 3, 5]
    # tracin@1 flips 0, 2, 5 of them; random@1 only 2; the budget row and tracin@2 only 0
    assert out["robust_flips"] == {"tracin@1": 3, "random@1": 1, "tracin@budget226": 1,
                                   "tracin@2": 1}
    text = capsys.readouterr().out
    # paired differences over the 4 robust targets: +1, 0, 0, +1; all 16 sign vectors: the
    # mean's size reaches 0.5 for the 8 of them with equal signs on targets 0 and 5 -> p = 0.5
    assert "| tracin@1 | 3 | +2 (random@1), p = 0.5 |" in text
    assert "| tracin@2 | 1 |  |" in text  # no random@2 row: no pairing
    assert "| tracin@budget226 | 1 |  |" in text  # no random@budget226 row either
    out["flips"]["random@budget226"] = [False, False, True, False, False, True]
    margins._robust_flips(out)
    # budget rows pair with random at the same budget: +1, -1, 0, -1 -> -1, p = 1 (16 vectors:
    # |mean| >= 0.25 for all of them)
    assert "| tracin@budget226 | 1 | -1 (random@budget226), p = 1 |" in capsys.readouterr().out


def test_random_control_is_random_at_the_same_size(margins):
    assert margins._random_control("tracin@1") == "random@1"
    assert margins._random_control("similarity@3") == "random@3"
    assert margins._random_control("tracin@budget226") == "random@budget226"
    assert margins._random_control("random@1") is None
    assert margins._random_control("null_seed1") is None


def test_first_fact_agreement_by_hand(margins, capsys):
    rows = {"tracin": [[5, 1], [7, 2], [-1, -1]], "random": [[5, 3], [8, 2], [-1, -1]],
            "similarity": [[4, 5], [7, 1], [9, -1]]}
    agree = margins._first_fact_agreement(rows)
    # target 0: tracin & random share 5; target 1: tracin & similarity share 7; target 2: two
    # empty rankings share nothing
    assert agree == {"tracin & random": 1, "tracin & similarity": 1, "random & similarity": 0}
    assert "| tracin | 1 | 1 |" in capsys.readouterr().out


def test_cached_methods_skip_ambiguous_ones(margins, tmp_path):
    folder = tmp_path / "rankings"
    folder.mkdir()
    for name in ("tracin-aa.json", "tracin-bb.json", "tracin_last-cc.json", "random-dd.json"):
        (folder / name).write_text("{}")
    assert margins._cached_methods(tmp_path) == ["random", "tracin_last"]


def test_needed_excess_against_binomial_tails(margins):
    # two-sided exact binomial at 1/2 by hand: with no control-only flips, a of a has
    # p = 2 * 0.5**a: 0.0625 at a = 5, 0.03125 at a = 6
    assert margins._needed_excess(0) == 6
    # b = 5: a = 14 of 19 has p = 2 * P(X >= 14) = 0.0636, a = 15 of 20 has 0.0414
    assert margins._needed_excess(5) == 15
    # at 0.1: 13 of 18 has 2 * 12,616 / 2**18 = 0.096, 12 of 17 has 2 * 9,402 / 2**17 = 0.143
    # (0 of 5, p = 0.0625, is below 0.1 too, but in random's favour: not counted)
    assert margins._needed_excess(5, alpha=0.1) == 13


def test_separable_flips_by_hand(margins, capsys):
    # 10 targets: tracin@1 flips 0-3, random@1 flips 3-4 -> 3 only tracin, 1 only random
    out = {"flips": {"tracin@1": [True] * 4 + [False] * 6,
                     "random@1": [False] * 3 + [True] * 2 + [False] * 5,
                     "null_seed1": [True] + [False] * 9}}
    margins._separable_flips(out)
    row = out["separable_flips"]["tracin@1"]
    assert (row["only_row"], row["only_random"]) == (3, 1)
    assert row["p"] == pytest.approx(0.625)  # 2 * P(X >= 3 | n = 4) = 2 * 5 / 16
    # with 1 random-only flip, a = 8 of 9 gives 2 * 10 / 512 = 0.039 (a = 7: 0.070)
    assert row["needed_only_row"] == 8
    assert row["needed_delta_h1"] == pytest.approx(-(4 + 5) / 10)
    assert set(out["separable_flips"]) == {"tracin@1"}  # neither random nor noise is paired
    assert "| tracin@1 | 3 / 1 (random@1) | 0.62 | 8 | -0.90 |" in capsys.readouterr().out

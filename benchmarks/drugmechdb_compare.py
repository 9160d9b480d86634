"""Two DrugMechDB benchmark runs compared pair by pair (e.g. a model with and without relation
oversampling).

    python benchmarks/drugmechdb_compare.py benchmarks/results-cpu-drugmechdb.json \
        benchmarks/results-cpu-drugmechdb-norepeat.json

Reads the result JSONs of ``python -m kgif drugmechdb`` (their ``per_pair`` entries must name
the same pairs in the same order), and prints a Markdown table: for each ranking and metric
asked for, the mean of run A, of run B, and the paired difference A - B with its 95 %
bootstrap interval and sign-flip p (:func:`kgif.studies.faithfulness.bootstrap_ci`,
:func:`kgif.studies.faithfulness.sign_flip_test`), plus each run's relations of the top-10
TracIn proponents when recorded. Exit status 2 with one line on stderr for a file that is not
such a JSON, runs over different pairs, or a ranking or metric missing from a run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from kgif.studies.faithfulness import bootstrap_ci, sign_flip_test

ROWS = [("tracin", "rr"), ("tracin_direct_apart", "rr"), ("tracin_direct_apart_khop", "rr"),
        ("mechanism_mean", "rr"), ("mechanism_mean", "path_hits@10"),
        ("mechanism_total_min", "rr"), ("path_count", "rr")]


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("per_pair"), list):
        raise ValueError(f"{path}: no 'per_pair' list; expected the JSON of python -m kgif "
                         "drugmechdb")
    return data


def compare(a: dict, b: dict, rows: list[tuple[str, str]]) -> list[dict]:
    """Per (ranking, metric): means of both runs and the paired difference a - b.

    Raises:
        ValueError: the runs cover different pairs, or a ranking/metric is missing.
    """
    pairs_a, pairs_b = [p["pair"] for p in a["per_pair"]], [p["pair"] for p in b["per_pair"]]
    if pairs_a != pairs_b:
        raise ValueError(f"the runs cover different pairs ({len(pairs_a)} and {len(pairs_b)}; "
                         "expected the same pairs in the same order)")
    out = []
    for ranking, metric in rows:
        values = []
        for name, run in (("A", a), ("B", b)):
            try:
                values.append(torch.tensor([p[ranking][metric] for p in run["per_pair"]],
                                           dtype=torch.float64))
            except (KeyError, TypeError):
                raise ValueError(f"run {name}: no {ranking}/{metric} in every pair") from None
        diff = values[0] - values[1]
        _, low, high = bootstrap_ci(diff)
        out.append({"ranking": ranking, "metric": metric, "a": float(values[0].mean()),
                    "b": float(values[1].mean()), "diff": float(diff.mean()),
                    "low": float(low), "high": float(high), "p": sign_flip_test(diff)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="result JSON of run A")
    parser.add_argument("b", type=Path, help="result JSON of run B")
    parser.add_argument("--rows", nargs="+", metavar="RANKING:METRIC",
                        help=f"rows to compare (default: {' '.join(f'{r}:{m}' for r, m in ROWS)})")
    args = parser.parse_args(argv)
    try:
        rows = ROWS if not args.rows else [tuple(r.split(":", 1)) for r in args.rows]
        if any(len(r) != 2 for r in rows):
            raise ValueError(f"--rows {args.rows}: expected RANKING:METRIC items")
        a, b = _read(args.a), _read(args.b)
        table = compare(a, b, rows)  # type: ignore[arg-type]
    except ValueError as err:
        print(f"drugmechdb_compare: {err}", file=sys.stderr)
        return 2
    print(f"A = `{args.a}`, B = `{args.b}`, {len(a['per_pair'])} pairs\n")
    for name, run in (("A", a), ("B", b)):
        top = run.get("top_relations")
        if top:
            print(f"- {name}: relations of the top-{top['k']} TracIn proponents: " +
                  ", ".join(f"`{k}` {v}" for k, v in top["counts"].items()))
    print("\n| ranking | metric | A | B | A - B [95 % CI], sign-flip p |\n|---|---|---|---|---|")
    for r in table:
        print(f"| {r['ranking']} | {r['metric']} | {r['a']:.3f} | {r['b']:.3f} | "
              f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}], p = {r['p']:.2g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

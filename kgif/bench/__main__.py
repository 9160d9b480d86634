"""``python -m kgif.bench``: run benchmark suites, print a table, write JSON (and a plot)."""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch

from kgif._io import atomic_write_json, atomic_write_text
from kgif.bench import SUITES, run_benchmarks
from kgif.bench.common import BENCH_SIZES, with_sizes
from kgif.bench.render import environment_lines, format_table, markdown, plot


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kgif.bench", description=__doc__)
    parser.add_argument("--suite", choices=sorted(BENCH_SIZES), default="quick",
                        help="sizes: smoke (< 1 min), quick (5-11 min on 2 cores), full")
    parser.add_argument("--only", nargs="+", choices=list(SUITES), metavar="NAME",
                        help=f"run only these suites: {', '.join(SUITES)}")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the results as a Markdown report here")
    parser.add_argument("--plot", help="write a PNG plot here (needs matplotlib)")
    parser.add_argument("--note", default="", help="free text stored and shown with the results")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                        type=_size_item, dest="sizes",
                        help="replace one size of the preset (kgif.bench.common.BenchSize), "
                             "e.g. --set 'kelpie_training=[[\"fb15k237\", 1]]' --set "
                             "training_datasets=[]; repeatable")
    return parser


def _size_item(text: str) -> tuple[str, object]:
    """``FIELD=JSON`` -> (field, value); argparse reports the error with the flag."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=JSON")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not JSON ({err})") from None


def json_ready(value: object) -> object:
    """``value`` for :func:`kgif._io.atomic_write_json`: NaN and infinities become ``null``.

    A benchmark row records "not measured" as NaN (a skipped competitor, a marginal rate whose
    fixed cost is unknown); JSON has no NaN, so the file says ``null``. Objects JSON cannot
    encode (a ``torch.dtype``, a path) are written as their ``str``.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads={args.threads} must be positive")
        torch.set_num_threads(args.threads)

    def show(name: str, rows: list[dict]) -> None:
        print(format_table(rows), end="\n\n", flush=True)

    command = ["-m", "kgif.bench", *(sys.argv[1:] if argv is None else argv)]
    try:
        sizes = dict(args.sizes)
        with_sizes(BENCH_SIZES[args.suite], sizes)  # refuse a bad --set before any suite runs
    except ValueError as err:
        raise SystemExit(f"python -m kgif.bench: {err}") from None
    result = run_benchmarks(args.suite, args.only, args.device, argv=command, on_suite=show,
                            sizes=sizes)
    result["note"] = args.note
    print("\n".join(environment_lines(result["environment"])))
    if args.output:
        atomic_write_json(args.output, json_ready(result), indent=1)
        print(f"written {args.output}")
    if args.markdown:
        atomic_write_text(args.markdown, markdown(result))
        print(f"written {args.markdown}")
    if args.plot:
        plot(result, args.plot)
        print(f"written {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

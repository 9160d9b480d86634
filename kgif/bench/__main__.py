"""``python -m kgif.bench``: run benchmark suites, print a table, write JSON (and a plot)."""

from __future__ import annotations

import argparse
import math
import sys

import torch

from kgif._io import atomic_write_json, atomic_write_text
from kgif.bench import SUITES, run_benchmarks
from kgif.bench.common import BENCH_SIZES
from kgif.bench.render import environment_lines, format_table, markdown, plot


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kgif.bench", description=__doc__)
    parser.add_argument("--suite", choices=sorted(BENCH_SIZES), default="quick",
                        help="sizes: smoke (< 1 min), quick (< 5 min on 2 cores), full")
    parser.add_argument("--only", nargs="+", choices=list(SUITES), metavar="NAME",
                        help=f"run only these suites: {', '.join(SUITES)}")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--markdown", help="write the results as a Markdown report here")
    parser.add_argument("--plot", help="write a PNG plot here (needs matplotlib)")
    parser.add_argument("--note", default="", help="free text stored and shown with the results")
    return parser


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
    result = run_benchmarks(args.suite, args.only, args.device, argv=command, on_suite=show)
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

"""``python -m kgif.bench``: run benchmark suites, print a table, write JSON (and a plot)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from kgif._io import atomic_write
from kgif.bench import SUITES, run_benchmarks
from kgif.bench.common import PRESETS
from kgif.bench.render import environment_lines, format_table, markdown, plot


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kgif.bench", description=__doc__)
    parser.add_argument("--suite", choices=sorted(PRESETS), default="quick",
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


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


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
        _write(args.output, json.dumps(result, indent=1, default=str) + "\n")
        print(f"written {args.output}")
    if args.markdown:
        _write(args.markdown, markdown(result))
        print(f"written {args.markdown}")
    if args.plot:
        plot(result, args.plot)
        print(f"written {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

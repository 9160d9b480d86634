"""DrugMechDB benchmark on Hetionet (issue 22): ``python -m kgif drugmechdb`` with the
settings of the committed results.

    python benchmarks/hetionet_drugmechdb.py --checkpoints runs/hetionet/checkpoints \
        --cache-dir runs/hetionet/dmdb-cache

runs

    python -m kgif drugmechdb --checkpoints CHECKPOINTS --cache-dir CACHE \
        --methods cosine relatif embeddings --draws 20 \
        --output benchmarks/results-cpu-drugmechdb.json \
        --markdown benchmarks/results-cpu-drugmechdb.md

(:mod:`kgif.studies.drugmechdb_run`; docs/hetionet.md). Score passes are cached in the cache
folder, so a rerun adds rankings without recomputing them.
"""

from __future__ import annotations

import argparse
import sys

from kgif.cli import main as kgif_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder of one run")
    parser.add_argument("--cache-dir", required=True, help="score passes are cached here")
    parser.add_argument("--output", default="benchmarks/results-cpu-drugmechdb.json")
    parser.add_argument("--markdown", default="benchmarks/results-cpu-drugmechdb.md")
    args = parser.parse_args(argv)
    return kgif_main(["drugmechdb", "--checkpoints", args.checkpoints, "--cache-dir",
                      args.cache_dir, "--methods", "cosine", "relatif", "embeddings",
                      "--draws", "20", "--output", args.output, "--markdown", args.markdown])


if __name__ == "__main__":
    sys.exit(main())

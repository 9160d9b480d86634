#!/usr/bin/env bash
# GPU readiness check of kgif: the cuda-marked tests and the GPU bench rows, one JSON and one
# Markdown table. Meant to finish in at most 8 minutes on one GPU, installs included.
#
#   benchmarks/gpu_check.sh             # on a CUDA machine: results-gpu-check.{json,md}
#   benchmarks/gpu_check.sh --dry-run   # the same code on the CPU at tiny sizes (CI), no
#                                       # installs, < 1 minute; writes into a temporary folder
#   options: --out DIR (where the JSON and Markdown go), --device cuda:N
#
# Steps:
#   1. installs (real run only, and only what is missing): kgif editable with pytest; torch
#      itself must already be a CUDA build (the script refuses a CPU-only torch).
#   2. pytest -m cuda tests/influence/test_gpu.py tests/bench/test_gpu_check.py: GPU against CPU float64 for
#      the structured (row sharing on and off) and generic kernels, a training step,
#      evaluation, the bf16 training path and TF32 TracIn. In the dry run tests/influence/test_gpu.py
#      skips (no GPU) and tests/bench/test_gpu_check.py's checks run with the CPU as the device;
#      they compare the CPU with itself, so they are reported as "dry run", never as passed.
#   3. bench rows (python below): FB15k-237-sized ConvE (random weights, d = 200) x 1,000 test
#      triples x 3 checkpoints over 272,115 random edges; the synthetic seed-scale graph
#      (kgif.bench.wholegraph: 18.6 M edges x 750 test triples x 3 checkpoints; 10 % first, the
#      rest only if it fits the time budget, else a labelled extrapolation); the Hetionet
#      preset's training epoch time (one epoch, no validation).
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
OUT=""
DEVICE="cuda"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) OUT="$2"; shift ;;
        --device) DEVICE="$2"; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
PY=${PYTHON:-python}

if [ "$DRY" = 1 ]; then
    DEVICE="cpu"
    OUT=${OUT:-$(mktemp -d -t kgif-gpu-check-XXXXXX)}
    export OMP_NUM_THREADS=1
    export KGIF_CHECK_DEVICE=cpu  # tests/bench/test_gpu_check.py's cuda-marked checks run on the CPU
else
    OUT=${OUT:-benchmarks}
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check.sh: no CUDA device (torch $("$PY" -c 'import torch; print(torch.__version__)')); use --dry-run on a CPU machine" >&2
        exit 2
    fi
    if ! "$PY" -c "import kgif, pytest, numpy, tqdm" 2>/dev/null; then
        "$PY" -m pip install -q -e . pytest
    fi
fi
mkdir -p "$OUT"

# ---- 2. cuda-marked tests
TESTS_LOG="$OUT/gpu-check-tests.log"
set +e
if [ "$DRY" = 1 ]; then
    SELECT=(--deselect tests/bench/test_gpu_check.py::test_dry_run_writes_every_row)
else
    SELECT=(-m cuda)
fi
"$PY" -m pytest -q -p no:cacheprovider "${SELECT[@]}" tests/influence/test_gpu.py tests/bench/test_gpu_check.py \
    > "$TESTS_LOG" 2>&1
TESTS_RC=$?
set -e
TESTS_SUMMARY=$(tail -n 1 "$TESTS_LOG")
echo "cuda tests (rc $TESTS_RC): $TESTS_SUMMARY"

# ---- 3. bench rows
ELAPSED=$(( $(date +%s) - START ))
set +e
"$PY" - "$DEVICE" "$DRY" "$OUT" "$TESTS_RC" "$TESTS_SUMMARY" "$ELAPSED" <<'PYTHON'
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from kgif._environment import environment
from kgif.bench.common import MODELS, random_checkpoint, random_triples, synchronize
from kgif.bench.wholegraph import SIZES, seed_checkpoints, synthetic_graph
from kgif.influence.tracin import TracIn

device, dry, out = sys.argv[1], sys.argv[2] == "1", Path(sys.argv[3])
tests_rc, tests_summary, elapsed = int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
budget = 8 * 60 - elapsed - 30  # seconds left for the rows, 30 s kept for writing
clock = time.perf_counter()
rows = []


def left() -> float:
    return budget - (time.perf_counter() - clock)


def timed(fn):
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def stream(tracin, test, edges, chunk):
    for first in range(0, len(test), chunk):
        tracin.top_influences(test[first:first + chunk], 10, edges)


def gpu_peak():
    if torch.device(device).type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


# (a) FB15k-237-sized ConvE x 1,000 test triples x 3 checkpoints, all 272,115 edges
size = MODELS["tiny" if dry else "fb15k237"]
n_edges, n_test, batch = (400, 10, 64) if dry else (272_115, 1_000, 4_096)
ckpts = []
for k in range(3):
    ckpt = random_checkpoint(size, seed=20 + k, device=device)
    ckpt.epoch = k + 1
    ckpts.append(ckpt)
edges = random_triples(n_edges, size.num_entities, size.num_relations, seed=1)
test = random_triples(n_test, size.num_entities, size.num_relations, seed=2)
tracin = TracIn(ckpts, edges, batch_size=batch, device=device, show_progress=False)
stream(tracin, test[:8], edges[: 2 * batch], n_test)  # warm-up
seconds = timed(lambda: stream(tracin, test, edges, n_test))
rows.append({"case": f"{size.name} ConvE d={size.embedding_dim}: {n_edges:,} edges x "
                     f"{n_test:,} test x 3 ckpts", "seconds": seconds,
             "edges_per_s": n_edges / seconds, "pairs_per_s": n_edges * n_test / seconds,
             "gpu_peak_mib": gpu_peak(), "extrapolated": False})
print(rows[-1], flush=True)
del tracin, ckpts

# (b) the seed-scale synthetic graph x 750 x 3 (10 % first; the rest if it fits)
sizes = SIZES["smoke" if dry else "full"]
full = sizes["full_edges"]
start = time.perf_counter()
graph = synthetic_graph(full, sizes["num_entities"], sizes["n_test"])
generate = time.perf_counter() - start
ckpts = seed_checkpoints(graph.num_entities, graph.num_relations, device=device)
batch = 64 if dry else 8_192
tracin = TracIn(ckpts, graph.training, batch_size=batch, device=device, show_progress=False)
test = graph.testing
stream(tracin, test[:8], graph.training[: 2 * batch], len(test))  # warm-up
tenth = graph.training[: full // 10]
t10 = timed(lambda: stream(tracin, test, tenth, len(test)))
predicted = t10 * 10
if predicted * 1.2 < left():
    seconds, extrapolated = t10 + timed(
        lambda: stream(tracin, test, graph.training[full // 10:], len(test))), False
else:
    seconds, extrapolated = predicted, True
rows.append({"case": f"synthetic seed-scale: {full:,} edges x {len(test)} test x 3 ckpts "
                     "(d=32, 8x4, 32 channels)", "seconds": seconds,
             "edges_per_s": full / seconds, "pairs_per_s": full * len(test) / seconds,
             "seconds_per_test_triple": seconds / len(test), "tenth_seconds": t10,
             "generate_seconds": generate, "gpu_peak_mib": gpu_peak(),
             "extrapolated": extrapolated,
             "note": "EXTRAPOLATION: 10 x the first 10 %" if extrapolated else "measured"})
print(rows[-1], flush=True)
del tracin, ckpts, graph

# (c) the Hetionet preset's training epoch (one epoch, no validation)
from kgif.data.datasets import load_dataset  # noqa: E402
from kgif.training.presets import preset_configs  # noqa: E402
from kgif.training.loop import train  # noqa: E402

if left() > 30:
    kg = load_dataset("nations" if dry else "hetionet")
    # the dry run trains on Nations, which has no TREATS_CtD to oversample
    config, tc = preset_configs("hetionet", device=device, epochs=1, eval_every=0,
                                checkpoint_every=0, **({"relation_repeats": {}} if dry else {}))
    result = train(kg, config, tc, show_progress=False)
    epoch = statistics.median(result.epoch_seconds)
    rows.append({"case": f"train --preset hetionet, one epoch ({kg.name}, "
                         f"{len(kg.training):,} edges)", "seconds": epoch,
                 "edges_per_s": len(kg.training) / epoch, "gpu_peak_mib": gpu_peak(),
                 "extrapolated": False})
else:
    rows.append({"case": "train --preset hetionet, one epoch", "seconds": math.nan,
                 "note": "skipped: the 8-minute budget was spent"})
print(rows[-1], flush=True)

result = {"dry_run": dry, "environment": environment(device, sys.argv),
          "tests": {"returncode": tests_rc, "summary": tests_summary, "gpu_tested": not dry},
          "rows": rows}
name = "gpu-check-dry-run" if dry else "results-gpu-check"
(out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
env = result["environment"]
lines = [f"# kgif GPU check{' (dry run on the CPU, tiny sizes)' if dry else ''}", "",
         f"device {device} ({env.get('gpu', env['cpu'])}), torch {env['torch']}, "
         f"CUDA {env.get('cuda')}, commit {env['git_commit']}", "",
         (f"cuda tests: return code {tests_rc}, `{tests_summary}`" if not dry else
          f"cuda tests: dry run: no GPU was tested (GPU checks ran on the CPU against the "
          f"CPU), return code {tests_rc}, `{tests_summary}`"), "",
         "| case | seconds | edges/s | pairs/s | GPU peak MiB | note |",
         "| --- | ---: | ---: | ---: | ---: | --- |"]
for r in rows:
    def fmt(key, spec):
        value = r.get(key)
        return "" if value is None else format(value, spec)
    lines.append(f"| {r['case']} | {fmt('seconds', '.1f')} | {fmt('edges_per_s', ',.0f')} | "
                 f"{fmt('pairs_per_s', '.3g')} | {fmt('gpu_peak_mib', ',.0f')} | "
                 f"{r.get('note', '')} |")
(out / f"{name}.md").write_text("\n".join(lines) + "\n")
print(f"written {out / name}.json and .md")
PYTHON
BENCH_RC=$?
set -e
echo "gpu_check.sh: $(( $(date +%s) - START )) s in all; results in $OUT"
if [ "$TESTS_RC" != 0 ]; then
    echo "gpu_check.sh: cuda tests failed (rc $TESTS_RC), see $TESTS_LOG" >&2
    exit 1
fi
exit "$BENCH_RC"

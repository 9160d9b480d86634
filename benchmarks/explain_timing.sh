#!/bin/bash
# Time `python -m kgif explain` on FB15k-237: 100 test triples against all 272,115 training
# edges, --top-k 10, one chunk; one process vs two torchrun ranks (gloo). See docs/scaling.md.
# Usage: benchmarks/explain_timing.sh [workdir]   (run from the repository root)
set -euo pipefail
WORK=${1:-/tmp/kgif_explain_timing}
PY=${PYTHON:-python}
export PYTHONPATH=${PYTHONPATH:-$PWD}
mkdir -p "$WORK"
"$PY" - "$WORK" <<'PYEOF'
import sys
from kgif.model.checkpoint import Checkpoint, save_checkpoint
from kgif.data.datasets import load_dataset
from kgif.model.conve import ConvEConfig, init_conve
work = sys.argv[1]
kg = load_dataset("fb15k237")
config = ConvEConfig(extra={"dataset": "fb15k237"})
params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=0)
save_checkpoint(Checkpoint(params, buffers, config, 0.001, epoch=1, entity_to_id=kg.entity_to_id,
                           relation_to_id=kg.relation_to_id), f"{work}/ckpts/checkpoint_0001.pt")
with open(f"{work}/test100.tsv", "w") as f:
    for h, r, t in kg.testing[:100].tolist():
        f.write(f"{kg.entity_label(h)}\t{kg.relation_label(r)}\t{kg.entity_label(t)}\n")
PYEOF
ARGS="explain --checkpoints $WORK/ckpts --dataset fb15k237 --test-file $WORK/test100.tsv --top-k 10 --chunk-size 100 --quiet --no-progress"
run() {  # name, command...
  local name=$1; shift
  rm -rf "$WORK/out_$name"
  echo "== $name: $* --output-dir $WORK/out_$name"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" --output-dir "$WORK/out_$name" > "$WORK/log_$name.txt" 2>&1
  t1=$(date +%s.%N)
  echo "wall $(echo "$t1 - $t0" | bc) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
run 1proc_1thread env OMP_NUM_THREADS=1 "$PY" -m kgif $ARGS
run 1proc_2threads env OMP_NUM_THREADS=2 "$PY" -m kgif $ARGS
run 2ranks_1thread env OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --nproc-per-node 2 \
    --master-port 29533 -m kgif $ARGS

#!/usr/bin/env bash
# Kelpie's end-to-end necessary protocol on ConvE / FB15k-237 (issue 21; docs/kelpie.md).
#
# Usage: benchmarks/kelpie_fb15k237.sh STEP
#   original   train the original model (60 epochs, ~90 min at 1 thread on a quiet 2-core EPYC)
#   evaluate   filtered test metrics of the final (epoch-60) model, both sides and tail only
#   extract    draw the 100 rank-1 targets (seed 0), time every explainer's extraction
#   plan       every method's explanations (k = 1..4, budget 226) and deletion sets, no training
#   retrain J  train job J (e.g. tracin@1, random@1, null, null_seed1) in the background;
#              rerunning it after a kill resumes from the last 5-epoch checkpoint
#   report     the table with every finished retraining (reads the cache, trains nothing)
#
# Every retraining runs on one thread, as the original did (bit-identical only at equal thread
# counts). Heavy steps hold /work/tmp/heavy.lock when it exists (shared development machine);
# KGIF_KELPIE_PARALLEL=1 lets `retrain` skip it, so two one-thread retrainings share the two
# cores (this session ran tracin@1 and random@1 side by side that way).
set -euo pipefail

STUDY=${KGIF_KELPIE_DIR:-/work/studies/kelpie}
RUN=$STUDY/fb15k237-conve-seed0
CACHE=$STUDY/cache
TARGETS=benchmarks/kelpie-targets-fb15k237.tsv
export KGIF_DATA_DIR=${KGIF_DATA_DIR:-/work/shared/data}
export OMP_NUM_THREADS=1
LOCK=()
[ -e /work/tmp/heavy.lock ] && LOCK=(flock /work/tmp/heavy.lock)
STUDY_FLAGS=(--protocol kelpie --dataset fb15k237 --original "$RUN" --cache-dir "$CACHE"
             --targets-file "$TARGETS" --methods tracin tracin_cosine tracin_relatif
             tracin_embeddings tracin_margin random similarity --k 1 2 3 4 --budget 226
             --noise-seeds 1 2 3 --checkpoint-every 5 --threads 1)

case "${1:-}" in
  original)
    "${LOCK[@]}" python -m kgif train --dataset fb15k237 --output-dir "$RUN" --epochs 60 \
      --batch-size 128 --learning-rate 0.003 --lr-schedule exponential --lr-decay 0.995 \
      --label-smoothing 0.1 --embedding-dim 200 --embedding-height 10 --embedding-width 20 \
      --input-dropout 0.2 --output-dropout 0.3 --feature-map-dropout 0.2 \
      --checkpoint-every 10 --eval-every 10 --seed 0 ;;
  evaluate)
    "${LOCK[@]}" python -m kgif evaluate --no-progress \
      --checkpoint "$RUN/checkpoints/checkpoint_epoch_0060.pt" --dataset fb15k237 \
      --output benchmarks/results-cpu-kelpie-original.json ;;
  extract)
    OMP_NUM_THREADS=2 "${LOCK[@]}" python benchmarks/kelpie_extraction_timing.py \
      --original "$RUN" --dataset fb15k237 --targets 100 --seed 0 --write-targets "$TARGETS" \
      --all-slice 20000 --output benchmarks/results-cpu-kelpie-extraction.json \
      --markdown benchmarks/results-cpu-kelpie-extraction.md ;;
  plan)
    OMP_NUM_THREADS=2 "${LOCK[@]}" python -m kgif faithfulness "${STUDY_FLAGS[@]}" --no-retrain \
      --output benchmarks/results-cpu-kelpie.json --markdown benchmarks/results-cpu-kelpie.md ;;
  retrain)
    job=${2:?name a job, e.g. tracin@1}
    [ "${KGIF_KELPIE_PARALLEL:-0}" = 1 ] && LOCK=()
    nohup "${LOCK[@]}" python -m kgif faithfulness "${STUDY_FLAGS[@]}" --jobs "$job" \
      --output "$STUDY/result-$job.json" > "$STUDY/retrain-$job.log" 2>&1 &
    echo "started $job (pid $!), log $STUDY/retrain-$job.log" ;;
  report)
    python -m kgif faithfulness "${STUDY_FLAGS[@]}" --no-retrain \
      --output benchmarks/results-cpu-kelpie.json --markdown benchmarks/results-cpu-kelpie.md ;;
  *)
    sed -n '2,14p' "$0"; exit 2 ;;
esac

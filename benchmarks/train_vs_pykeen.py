"""Training throughput, peak memory and final MRR: kgif.train vs PyKEEN's ConvE LCWA loop.

Both train ConvE with the same hyper-parameters (PyKEEN's ConvE defaults: d = 200 as 10x20,
32 filters, dropouts 0.2/0.2/0.3, BatchNorm, entity bias; reciprocal relations; 1-N / LCWA over
distinct (head, relation) rows; BCE with logits, mean; label smoothing 0.1 with PyKEEN's
convention; Adam) for the same number of epochs, in the same process, on the same data. Both
final models are evaluated by ``kgif.evaluate`` (tested equal to PyKEEN's RankBasedEvaluator),
filtered realistic MRR on the test split.

Usage::

    python benchmarks/train_vs_pykeen.py --datasets umls kinships --epochs 100 \\
        --output bench_train.json

Prints device, torch and PyKEEN versions and the command beside the numbers. Epoch times are
medians over epochs 2..E (the first is warm-up). Peak memory is the rise of the process's peak
resident set size (Linux VmHWM, reset through /proc/self/clear_refs before each run).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from kgif.data import load_dataset
from kgif.evaluate import evaluate
from kgif.model import ConvEConfig
from kgif.train import TrainingConfig, train

PYKEEN_TO_KGIF = {"interaction.hr2d.0": "bn0", "interaction.hr2d.2": "conv",
                  "interaction.hr2d.3": "bn1", "interaction.hr1d.0": "fc",
                  "interaction.hr1d.2": "bn2"}


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the peak RSS (Linux >= 4.0) and return the current RSS in KiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _rss_kib("VmRSS")


def _peak_delta_mib(before_kib: int) -> float:
    return (_rss_kib("VmHWM") - before_kib) / 1024


def _kgif_params(state: dict) -> tuple[dict, dict]:
    """PyKEEN ConvE state dict -> kgif (params, buffers) by renaming."""
    params, buffers = {}, {}
    for key, value in state.items():
        value = value.detach().clone()
        if key == "entity_representations.0._embeddings.weight":
            params["entity_embedding"] = value
        elif key == "entity_representations.1._embeddings.weight":
            params["entity_bias"] = value[:, 0]
        elif key == "relation_representations.0._embeddings.weight":
            params["relation_embedding"] = value
        else:
            prefix, attr = key.rsplit(".", 1)
            name = f"{PYKEEN_TO_KGIF[prefix]}.{attr}"
            is_buffer = attr.startswith(("running_", "num_batches"))
            (buffers if is_buffer else params)[name] = value
    return params, buffers


def run_kgif(kg, config: ConvEConfig, args) -> dict:
    tc = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, label_smoothing=args.label_smoothing,
                        eval_every=0, checkpoint_every=0, seed=args.seed)
    before = _reset_peak()
    result = train(kg, config, tc, show_progress=False)
    peak = _peak_delta_mib(before)
    final = result.final
    metrics = evaluate(final.params, final.buffers, config, kg)
    return {"epoch_seconds": result.epoch_seconds, "peak_rss_mib": peak,
            "test_mrr": metrics["realistic.mrr"], "test_hits@10": metrics["realistic.hits@10"],
            "final_loss": result.loss_history[-1]}


def run_pykeen(kg, config: ConvEConfig, args) -> dict:
    from pykeen.models import ConvE
    from pykeen.training import LCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback
    from pykeen.triples import TriplesFactory

    stamps: list[float] = []

    class EpochTimer(TrainingCallback):
        def post_epoch(self, epoch, epoch_loss, **kwargs):
            stamps.append(time.perf_counter())

    factory = TriplesFactory(kg.training, entity_to_id=kg.entity_to_id,
                             relation_to_id=kg.relation_to_id, create_inverse_triples=True)
    model = ConvE(triples_factory=factory, loss="BCEWithLogits", random_seed=args.seed,
                  embedding_dim=config.embedding_dim, output_channels=config.output_channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loop = LCWATrainingLoop(model=model, triples_factory=factory, optimizer=optimizer)
    before = _reset_peak()
    stamps.append(time.perf_counter())
    losses = loop.train(factory, num_epochs=args.epochs, batch_size=args.batch_size,
                        label_smoothing=args.label_smoothing, use_tqdm=False,
                        use_tqdm_batch=False, callbacks=EpochTimer())
    peak = _peak_delta_mib(before)
    model.eval()
    params, buffers = _kgif_params(model.state_dict())
    metrics = evaluate(params, buffers, config, kg)
    seconds = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"epoch_seconds": seconds, "peak_rss_mib": peak,
            "test_mrr": metrics["realistic.mrr"], "test_hits@10": metrics["realistic.hits@10"],
            "final_loss": losses[-1]}


def _summary(name: str, n_rows: int, run: dict) -> dict:
    median = statistics.median(run["epoch_seconds"][1:] or run["epoch_seconds"])
    return {**run, "median_epoch_s": median, "triples_per_s": n_rows / median, "name": name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["umls", "kinships"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=("kgif-first", "pykeen-first"), default="pykeen-first")
    parser.add_argument("--output", default="bench_train_vs_pykeen.json")
    args = parser.parse_args(argv)
    import pykeen.version

    cpu = platform.processor() or platform.machine()
    env = {"command": " ".join(["python", *sys.argv]), "torch": torch.__version__,
           "pykeen": pykeen.version.get_version(),
           "device": f"cpu ({cpu}), {torch.get_num_threads()} threads"}
    print(" | ".join(f"{k}: {v}" for k, v in env.items()))
    config = ConvEConfig()
    rows = []
    for name in args.datasets:
        kg = load_dataset(name)
        n_rows = 2 * len(kg.training)  # training triples with reciprocals, per epoch
        runners = [("pykeen", run_pykeen), ("kgif", run_kgif)]
        if args.order == "kgif-first":
            runners.reverse()
        results = {who: _summary(who, n_rows, fn(kg, config, args)) for who, fn in runners}
        k, p = results["kgif"], results["pykeen"]
        rows.append({"dataset": name, "epochs": args.epochs, "kgif": k, "pykeen": p,
                     "speedup": p["median_epoch_s"] / k["median_epoch_s"]})
        print(f"\n{name}: {args.epochs} epochs, {n_rows} training triples (with reciprocals)")
        print(f"{'':8}{'epoch s':>10}{'triples/s':>12}{'peak MiB':>10}{'test MRR':>10}"
              f"{'Hits@10':>9}{'loss':>10}")
        for who in ("kgif", "pykeen"):
            r = results[who]
            print(f"{who:8}{r['median_epoch_s']:>10.3f}{r['triples_per_s']:>12.0f}"
                  f"{r['peak_rss_mib']:>10.1f}{r['test_mrr']:>10.4f}{r['test_hits@10']:>9.4f}"
                  f"{r['final_loss']:>10.5f}")
        print(f"speed-up kgif / pykeen (median epoch time): {rows[-1]['speedup']:.2f}x")
    Path(args.output).write_text(json.dumps({**env, "results": rows}, indent=2) + "\n")
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

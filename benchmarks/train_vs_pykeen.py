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
medians and minima over epochs 2..E (the first is warm-up); on a shared machine the minimum is
the less disturbed figure. Peak memory is the rise of the process's peak
resident set size (Linux VmHWM, reset through /proc/self/clear_refs before each run).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
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


class KgifRun:
    """kgif training advanced one epoch at a time (exact resume from the in-memory state)."""

    def __init__(self, name: str, kg, config: ConvEConfig, tc: TrainingConfig):
        self.name, self.kg, self.config, self.tc = name, kg, config, tc
        self.result = None
        self.seconds: list[float] = []

    def epoch(self) -> None:
        done = self.result.final.epoch if self.result else 0
        self.result = train(self.kg, self.config, replace(self.tc, epochs=done + 1),
                            resume_from=self.result.final if self.result else None,
                            show_progress=False)
        self.seconds += self.result.epoch_seconds

    def report(self) -> dict:
        final = self.result.final
        metrics = evaluate(final.params, final.buffers, self.config, self.kg)
        return {"epoch_seconds": self.seconds, "test_mrr": metrics["realistic.mrr"],
                "test_hits@10": metrics["realistic.hits@10"],
                "final_loss": self.result.loss_history[-1]}


class PykeenRun:
    """PyKEEN's ConvE and LCWA training loop; ``others`` run one epoch after each of its own."""

    def __init__(self, kg, config: ConvEConfig, args):
        from pykeen.models import ConvE
        from pykeen.training import LCWATrainingLoop
        from pykeen.triples import TriplesFactory

        self.kg, self.config, self.args = kg, config, args
        self.factory = TriplesFactory(kg.training, entity_to_id=kg.entity_to_id,
                                      relation_to_id=kg.relation_to_id,
                                      create_inverse_triples=True)
        self.model = ConvE(triples_factory=self.factory, loss="BCEWithLogits",
                           random_seed=args.seed, embedding_dim=config.embedding_dim,
                           output_channels=config.output_channels)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=args.learning_rate)
        self.loop = LCWATrainingLoop(model=self.model, triples_factory=self.factory,
                                     optimizer=optimizer)
        self.seconds: list[float] = []
        self.losses: list[float] = []

    def run(self, epochs: int, others=()) -> None:
        from pykeen.training.callbacks import TrainingCallback

        seconds, last = self.seconds, [time.perf_counter()]

        class Interleave(TrainingCallback):
            def post_epoch(self, epoch, epoch_loss, **kwargs):
                seconds.append(time.perf_counter() - last[0])
                for other in others:
                    other.epoch()
                last[0] = time.perf_counter()

        self.losses = self.loop.train(
            self.factory, num_epochs=epochs, batch_size=self.args.batch_size,
            label_smoothing=self.args.label_smoothing, use_tqdm=False, use_tqdm_batch=False,
            callbacks=Interleave(), pin_memory=False)

    def epoch(self) -> None:
        self.run(1)

    def report(self) -> dict:
        self.model.eval()
        params, buffers = _kgif_params(self.model.state_dict())
        metrics = evaluate(params, buffers, self.config, self.kg)
        return {"epoch_seconds": self.seconds, "test_mrr": metrics["realistic.mrr"],
                "test_hits@10": metrics["realistic.hits@10"], "final_loss": self.losses[-1]}


def peak_memory_mib(make, epochs: int = 2) -> float:
    """Rise of the peak RSS while a fresh run trains ``epochs`` epochs (the smaller of two runs,
    so one-time library initialisation is not counted)."""
    return min(_peak_once(make, epochs) for _ in range(2))


def _peak_once(make, epochs: int) -> float:
    before = _reset_peak()
    run = make()  # model construction counts for both
    if isinstance(run, PykeenRun):
        run.run(epochs)
    else:
        for _ in range(epochs):
            run.epoch()
    return _peak_delta_mib(before)


def _summary(n_rows: int, run: dict, peak: float) -> dict:
    timed = run["epoch_seconds"][1:] or run["epoch_seconds"]
    median = statistics.median(timed)
    return {**run, "median_epoch_s": median, "min_epoch_s": min(timed),
            "triples_per_s": n_rows / median,
            "peak_rss_mib": peak}


def bench_dataset(name: str, config: ConvEConfig, args) -> dict:
    """All competitors on one dataset, epochs interleaved so machine noise hits all alike."""
    kg = load_dataset(name)
    tc = TrainingConfig(batch_size=args.batch_size, learning_rate=args.learning_rate,
                        label_smoothing=args.label_smoothing, eval_every=0, checkpoint_every=0,
                        seed=args.seed)
    makers = {"kgif": lambda: KgifRun("kgif", kg, config, tc),
              "kgif-bf16": lambda: KgifRun("kgif-bf16", kg, config, replace(tc, bf16=True))}
    if args.compile:
        makers["kgif-compile"] = lambda: KgifRun("kgif-compile", kg, config,
                                                 replace(tc, compile=True))
    peaks = {who: peak_memory_mib(make) for who, make in makers.items()}
    peaks["pykeen"] = peak_memory_mib(lambda: PykeenRun(kg, config, args))
    runs = {who: make() for who, make in makers.items()}
    pykeen = PykeenRun(kg, config, args)
    pykeen.run(args.epochs, others=list(runs.values()))
    n_rows = 2 * len(kg.training)  # training triples with reciprocals, per epoch
    results = {who: _summary(n_rows, run.report(), peaks[who]) for who, run in runs.items()}
    results["pykeen"] = _summary(n_rows, pykeen.report(), peaks["pykeen"])
    base, base_min = results["pykeen"]["median_epoch_s"], results["pykeen"]["min_epoch_s"]
    for r in results.values():
        r["speedup_vs_pykeen"] = base / r["median_epoch_s"]
        r["speedup_vs_pykeen_min"] = base_min / r["min_epoch_s"]
    return {"dataset": name, "epochs": args.epochs, "training_triples": n_rows,
            "results": results}


def print_table(row: dict) -> None:
    print(f"\n{row['dataset']}: {row['epochs']} epochs, {row['training_triples']} training "
          "triples per epoch (with reciprocals)")
    print(f"{'':14}{'median s':>9}{'triples/s':>11}{'speed-up':>10}{'min s':>8}{'speed-up':>10}"
          f"{'peak MiB':>10}{'test MRR':>10}{'Hits@10':>9}{'loss':>10}")
    for who, r in row["results"].items():
        print(f"{who:14}{r['median_epoch_s']:>9.3f}{r['triples_per_s']:>11.0f}"
              f"{r['speedup_vs_pykeen']:>9.2f}x{r['min_epoch_s']:>8.3f}"
              f"{r['speedup_vs_pykeen_min']:>9.2f}x{r['peak_rss_mib']:>10.1f}"
              f"{r['test_mrr']:>10.4f}{r['test_hits@10']:>9.4f}{r['final_loss']:>10.5f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["umls", "kinships"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="also time kgif compiled")
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
        rows.append(bench_dataset(name, config, args))
        print_table(rows[-1])
    Path(args.output).write_text(json.dumps({**env, "results": rows}, indent=2) + "\n")
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

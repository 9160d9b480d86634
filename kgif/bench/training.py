"""``training``: kgif's ConvE training loop against PyKEEN's, and sparse vs dense BCE labels.

Training (needs ``kgif.training.loop`` and ``kgif.evaluation.ranks``, and PyKEEN for the
comparison): both
train ConvE with PyKEEN's defaults (d = 200 as 10 x 20, 32 filters, dropouts 0.2/0.2/0.3,
BatchNorm, entity bias, reciprocal relations, 1-N/LCWA rows, BCE with logits, label smoothing
0.1, Adam 0.003, batch 128) for the same number of epochs, in this process, on the same data;
kgif also with bfloat16 autocast (``kgif-bf16``) and with the fused Adam kernel
(``kgif-fused-adam``, ``TrainingConfig.fused_adam``: the same update, float32 rounding
differs). Cases: ``BenchSize.training_datasets`` at ``training_epochs`` and
``BenchSize.kelpie_training`` (the full suite: FB15k-237 for 3 epochs, the Kelpie study's
model, whose 60-epoch trainings are the study's cost) and ``BenchSize.preset_training``
(the full suite: one epoch of ``train --preset hetionet``'s model, batch size and learning
rate, without its relation oversampling, which PyKEEN's LCWA loop does not have).
Both final models are evaluated with ``kgif.evaluation.ranks`` (filtered realistic test MRR). Epoch
time is the median over epochs 2..E (the only epoch when E = 1: PyKEEN's first epoch then
includes its LCWA instance set-up, kgif's its first-batch warm-up); peak memory is the rise
of the process's peak resident set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``
before each run).

Labels: bytes of a dense (B, N) float32 label matrix against the (P,) int64 index pair
(``pos_rows``, ``pos_cols``) that :func:`kgif.model.loss.sparse_bce_with_logits` takes, for B = 128
rows with K positives each; ``Tensor.nbytes`` of tensors actually built.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from kgif.bench.common import BenchSize, peak_rss_rise, reset_peak_rss, row, skipped
from kgif.model.conve import ConvEConfig

BATCH, LEARNING_RATE, SMOOTHING, SEED = 128, 0.003, 0.1, 0


def _run_kgif(kg, config: ConvEConfig, epochs: int, device: str, bf16: bool = False,
              fused_adam: bool = False, batch_size: int = BATCH,
              learning_rate: float = LEARNING_RATE) -> dict:
    from kgif.evaluation.ranks import evaluate
    from kgif.training.loop import TrainingConfig, train

    tc = TrainingConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                        label_smoothing=SMOOTHING, eval_every=0, checkpoint_every=0, seed=SEED,
                        device=device, bf16=bf16, fused_adam=fused_adam)
    before = reset_peak_rss()
    result = train(kg, config, tc, show_progress=False)
    peak = peak_rss_rise(before)
    final = result.final
    metrics = evaluate(final.params, final.buffers, config, kg)
    return {"epoch_seconds": result.epoch_seconds, "peak_mib": peak,
            "mrr": metrics["realistic.mrr"]}


def _run_pykeen(kg, config: ConvEConfig, epochs: int, device: str, batch_size: int = BATCH,
                learning_rate: float = LEARNING_RATE) -> dict:
    from pykeen.models import ConvE
    from pykeen.training import LCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback
    from pykeen.triples import TriplesFactory

    from kgif.evaluation.ranks import evaluate
    from kgif.interop.pykeen import from_pykeen

    stamps: list[float] = []

    class EpochTimer(TrainingCallback):
        def post_epoch(self, epoch, epoch_loss, **kwargs):
            stamps.append(time.perf_counter())

    factory = TriplesFactory(kg.training, entity_to_id=kg.entity_to_id,
                             relation_to_id=kg.relation_to_id, create_inverse_triples=True)
    model = ConvE(triples_factory=factory, loss="BCEWithLogits", random_seed=SEED,
                  embedding_dim=config.embedding_dim, output_channels=config.output_channels,
                  embedding_height=config.embedding_height,
                  embedding_width=config.embedding_width,
                  input_dropout=config.input_dropout, output_dropout=config.output_dropout,
                  feature_map_dropout=config.feature_map_dropout)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loop = LCWATrainingLoop(model=model, triples_factory=factory, optimizer=optimizer)
    before = reset_peak_rss()
    stamps.append(time.perf_counter())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyKEEN's own (pin_memory without a GPU, ...)
        loop.train(factory, num_epochs=epochs, batch_size=batch_size, label_smoothing=SMOOTHING,
                   use_tqdm=False, use_tqdm_batch=False, callbacks=EpochTimer())
    peak = peak_rss_rise(before)
    model.eval()
    ckpt = from_pykeen(model.cpu(), learning_rate=learning_rate)  # kgif's own conversion
    metrics = evaluate(ckpt.params, ckpt.buffers, ckpt.config, kg)
    seconds = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"epoch_seconds": seconds, "peak_mib": peak, "mrr": metrics["realistic.mrr"]}


def _preset_case(name: str) -> tuple[str, ConvEConfig, dict]:
    """A training preset's model and the settings both trainers share (batch size, learning
    rate); its relation oversampling and learning-rate schedule are left out, as PyKEEN's
    LCWA loop has no per-relation repeats (an epoch is then one pass over the rows for both,
    and a schedule does not change an epoch's time)."""
    from kgif.training.presets import PRESETS, preset_configs

    if name not in PRESETS:
        raise ValueError(f"--set preset_training: unknown preset {name!r}; expected one of "
                         f"{sorted(PRESETS)}")
    model, training = preset_configs(name)
    settings = {"batch_size": training.batch_size, "learning_rate": training.learning_rate}
    return PRESETS[name].dataset, model, settings


def _missing(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as err:
        return f"{module} not importable ({err})"
    return None


def _training_rows(preset: BenchSize, device: str) -> list[dict]:
    from kgif.data.datasets import load_dataset

    rows = []
    no_train = _missing("kgif.training.loop") or _missing("kgif.evaluation.ranks")
    no_pykeen = _missing("pykeen")
    runners: dict[str, tuple[Callable[..., dict], str | None]] = {
               "kgif": (_run_kgif, no_train),
               "kgif-bf16": (functools.partial(_run_kgif, bf16=True), no_train),
               "kgif-fused-adam": (functools.partial(_run_kgif, fused_adam=True), no_train),
               "pykeen": (_run_pykeen, no_train or no_pykeen)}
    runners = {name: runners[name] for name in preset.training_runners}
    # ConvEConfig() is PyKEEN's ConvE default, which is also the Kelpie study's model
    default: tuple[ConvEConfig, dict] = (ConvEConfig(), {})
    cases = [(dataset, preset.training_epochs, "", *default)
             for dataset in preset.training_datasets]
    cases += [(dataset, epochs, "", *default) for dataset, epochs in preset.kelpie_training]
    for name, epochs in preset.preset_training:
        dataset, config, settings = _preset_case(name)
        cases.append((dataset, epochs, f"preset {name}, ", config, settings))
    for dataset, epochs, label, config, settings in cases:
        case = f"{label}{dataset} {epochs} epochs"
        for name, (fn, reason) in runners.items():
            if reason:
                rows.append(skipped("training", case, name, reason))
                continue
            kg = load_dataset(dataset)
            started = time.perf_counter()
            out = fn(kg, config, epochs, device, **settings)
            epoch = statistics.median(out["epoch_seconds"][1:] or out["epoch_seconds"])
            print(f"training {case}, {name}: median epoch {epoch:.1f} s, test MRR "
                  f"{out['mrr']:.3f} ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
                  flush=True)  # progress: the suite's table comes only at its end
            extra = dict(dataset=dataset, epochs=epochs, baseline="pykeen", **settings, **out)
            rows.append(row("training", case, name, "epoch time", epoch, "s", **extra))
            examples = 2 * len(kg.training)  # with reciprocal relations
            rows.append(row("training", case, name, "training triples/s", examples / epoch,
                            "triples/s", **extra))
            rows.append(row("training", case, name, "peak RSS rise", out["peak_mib"], "MiB",
                            **extra))
            rows.append(row("training", case, name, "test MRR", out["mrr"], "", **extra))
    return rows


def label_memory_rows(preset: BenchSize) -> list[dict]:
    """Rows: bytes of dense (B, N) float32 labels vs int64 positive indices."""
    rows = []
    for n_entities in preset.label_entities:
        for k in (1, 10, 100):
            dense = torch.zeros(BATCH, n_entities, dtype=torch.float32)
            pos_rows = torch.arange(BATCH).repeat_interleave(k)
            pos_cols = torch.randint(n_entities, (BATCH * k,))
            dense[pos_rows, pos_cols] = 1.0
            case = f"labels B={BATCH} N={n_entities} K={k}"
            sparse = pos_rows.nbytes + pos_cols.nbytes
            extra: dict[str, Any] = dict(n_entities=n_entities, positives_per_row=k,
                                         baseline="dense")
            rows.append(row("training", case, "dense", "label bytes", dense.nbytes, "B", **extra))
            rows.append(row("training", case, "sparse", "label bytes", sparse, "B", **extra))
    return rows


def run_training(preset: BenchSize, device: str) -> list[dict]:
    """Rows of both parts (training comparisons skip cleanly without kgif.training.loop/PyKEEN)."""
    return _training_rows(preset, device) + label_memory_rows(preset)

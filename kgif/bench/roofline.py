"""``roofline``: achieved FLOP/s of each kernel as a fraction of a measured matmul peak.

FLOPs are counted analytically (multiply-add = 2 FLOPs), with d the embedding size, F = C h w
the fc input size, C conv channels, k = kh kw the kernel size, h w the conv map size, N
entities and P_s the number of "small" (BatchNorm, conv) parameters:

* structured factors, per example, one-hot objective: conv forward, conv input gradient and
  conv weight gradient 3 * 2 C k h w; fc forward and fc input gradient 2 * 2 F d.
* structured pair kernel, per (example, test) pair: <x, x'> 2F, six d-dot products (f f, g f,
  f g, g g, k k, delta delta) 12 d, small parameters 2 P_s.
* generic ``vmap(grad)`` per example: as structured plus the materialised fc weight gradient
  2 F d.
* autograd loop per example: as generic plus the all-entity scores and their two gradients
  (wrt f and wrt the entity table) 3 * 2 N d.
* TracIn stream (``TracIn.influence``, T = 1), per edge: 2 x structured factors + 2 x pair
  (the one-triple test cache is inside the time).
* matmul peak: 2 n^3 per (n x n) @ (n x n) float32 product.

The seed project's shape (d = 32, C = 32, T = 750, 1 M entities) has its own rows, split into
factor pass, pair products and top-k, in :mod:`kgif.bench.seedscale`.
"""

from __future__ import annotations

import torch

from kgif.bench.baselines import full_gradient
from kgif.bench.common import MODELS, BenchSize, median_time, random_checkpoint, random_triples, row
from kgif.bench.seedscale import run_seedscale
from kgif.data.graph import with_reciprocals
from kgif.influence.grads import FACTORED, per_sample_grads, structured_factors
from kgif.influence.kernels import ALL_PAIRS, as_right, structured_scores
from kgif.influence.tracin import TracIn
from kgif.model.loss import get_objective

FORMULAS = {
    "matmul": "2 n^3",
    "structured-factors": "per example: 6 C kh kw h w + 4 F d",
    "structured-pairs": "per pair: 2 F + 12 d + 2 P_small",
    "generic-vmap-grad": "per example: 6 C kh kw h w + 6 F d",
    "autograd-loop": "per example: 6 C kh kw h w + 6 F d + 6 N d",
    "tracin-stream": "per edge at T = 1: 2 (6 C kh kw h w + 4 F d) + 2 (2 F + 12 d + 2 P_small)"
                     " (the test-side cache of one triple is included in the time)",
}


def _sizes(ckpt) -> dict:
    config = ckpt.config
    map_h, map_w = config.feature_map_shape
    small = sum(v.numel() for k, v in ckpt.params.items() if k not in FACTORED)
    return {"d": config.embedding_dim, "F": config.num_features, "C": config.output_channels,
            "k": config.kernel_height * config.kernel_width, "hw": map_h * map_w,
            "N": ckpt.params["entity_embedding"].shape[0], "P_small": small}


def _flops(s: dict) -> dict:
    conv = 2 * s["C"] * s["k"] * s["hw"]
    fc = 2 * s["F"] * s["d"]
    pair = 2 * s["F"] + 12 * s["d"] + 2 * s["P_small"]
    return {"factors": 3 * conv + 2 * fc, "pair": pair, "generic": 3 * conv + 3 * fc,
            "loop": 3 * conv + 3 * fc + 3 * 2 * s["N"] * s["d"]}


def matmul_peak(preset: BenchSize, device: str) -> float:
    """Median FLOP/s of an (n x n) @ (n x n) float32 product."""
    gen = torch.Generator().manual_seed(0)
    n = preset.matmul_size
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    return 2 * n**3 / median_time(lambda: a @ b, preset, device)


def _kernels(preset: BenchSize, ckpt, device: str) -> dict:
    """name -> (callable, FLOPs per call)."""
    size = MODELS[preset.roofline_model]
    flops = _flops(_sizes(ckpt))
    batch = preset.roofline_batch
    examples = with_reciprocals(random_triples(batch // 2, size.num_entities,
                                               size.num_relations, 8)).to(device)
    n_test = 100
    test = random_triples(n_test, size.num_entities, size.num_relations, 9).to(device)
    test = torch.stack([test[:, 0], 2 * test[:, 1], test[:, 2]], 1)
    score = get_objective("score")
    small = tuple(n for n in ckpt.params if n not in FACTORED)
    factored = tuple(n for n in ckpt.params if n in FACTORED)
    p, b, c = ckpt.params, ckpt.buffers, ckpt.config
    left = structured_factors(p, b, c, examples, score, small)
    right = as_right(structured_factors(p, b, c, test, score, small), size.num_entities)
    few = examples[: max(4, batch // 16)]
    edges = random_triples(batch, size.num_entities, size.num_relations, 10)
    test_base = random_triples(1, size.num_entities, size.num_relations, 11)
    tracin = TracIn([ckpt], None, batch_size=preset.batch_size, device=device,
                    show_progress=False)
    return {
        "structured-factors": (lambda: structured_factors(p, b, c, examples, score, small),
                               batch * flops["factors"], batch),
        "structured-pairs": (lambda: structured_scores(left, right, factored, ALL_PAIRS),
                             batch * n_test * flops["pair"], batch * n_test),
        "generic-vmap-grad": (lambda: per_sample_grads(p, b, c, few, score, tuple(p)),
                              len(few) * flops["generic"], len(few)),
        "autograd-loop": (lambda: full_gradient(ckpt, examples[:1], score),
                          flops["loop"], 1),
        "tracin-stream": (lambda: tracin.influence(test_base[:1], train_triples=edges),
                          len(edges) * 2 * (flops["factors"] + flops["pair"]), len(edges)),
    }


def run_roofline(preset: BenchSize, device: str) -> list[dict]:
    """Rows: the matmul peak, then each kernel's FLOP/s and fraction of the peak."""
    peak = matmul_peak(preset, device)
    n = preset.matmul_size
    rows = [row("roofline", f"matmul {n}^3 float32", "torch.matmul", "FLOP/s", peak, "FLOP/s",
                formula=FORMULAS["matmul"])]
    ckpt = random_checkpoint(MODELS[preset.roofline_model], device=device)
    sizes = _sizes(ckpt)
    for name, (fn, flops, items) in _kernels(preset, ckpt, device).items():
        with torch.no_grad() if name == "structured-pairs" else torch.enable_grad():
            seconds = median_time(fn, preset, device)
        case = f"{preset.roofline_model} {name}"
        extra = dict(formula=FORMULAS[name], flops_per_call=flops, items_per_call=items,
                     seconds=seconds, sizes=sizes, peak_flops=peak)
        rows.append(row("roofline", case, name, "FLOP/s", flops / seconds, "FLOP/s", **extra))
        rows.append(row("roofline", case, name, "fraction of peak", flops / seconds / peak, "",
                        **extra))
    return rows + run_seedscale(preset, device)

"""Per-sample gradients of ConvE triples in attribution mode.

Two producers, one per TracIn path:

* :func:`per_sample_grads` (generic): ``torch.func.vmap(grad(loss_one))`` over a chosen parameter
  subset, materialised. Embedding tables are differentiated through their *gathered rows*
  (head, relation, tail), never as B x N x d, except where the objective is dense (``bce_1n``),
  whose u = dl/ds touches every entity row.
* :func:`structured_factors` (fast, exact): the low-rank factors of docs/derivations.md section 3
  (u, f, g, k, delta, x and the small-parameter gradients), from which all inner products of
  per-sample gradients are formed in :mod:`kgif.influence.kernels` without materialising them.

An *example* is one directed triple ``(h, r, t)`` whose ``r`` is a relation-table row (with
reciprocal relations: 2k forward, 2k + 1 inverse), shape (B, 3) int64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import grad, vmap

from kgif.model.conve import (
    ConvEConfig,
    Params,
    conv_features,
    conv_input,
    conv_maps,
    conv_output,
    fc_hidden,
    score_all,
    score_tails,
)
from kgif.model.loss import DenseObjective, Objective, OneHotObjective

__all__ = [
    "PARAMETER_GROUPS",
    "TABLES",
    "Factors",
    "GradBlocks",
    "per_sample_grads",
    "resolve_parameters",
    "structured_factors",
    "without_onednn",
]

#: Parameters indexed by entity or relation id; their per-sample gradients are row-sparse.
TABLES = ("entity_embedding", "relation_embedding", "entity_bias")

#: Named parameter groups accepted wherever a parameter subset is asked for.
PARAMETER_GROUPS: dict[str, tuple[str, ...]] = {
    "embeddings": TABLES,
    "conv": ("bn0.weight", "bn0.bias", "conv.weight", "conv.bias", "bn1.weight", "bn1.bias"),
    "fc": ("fc.weight", "fc.bias", "bn2.weight", "bn2.bias"),
}


def resolve_parameters(spec: str | Iterable[str] | None, params: Params) -> tuple[str, ...]:
    """Parameter names selected by ``spec``, in the order of ``params``.

    Args:
        spec: None or ``"all"`` for every parameter; a group name of :data:`PARAMETER_GROUPS`;
            or an iterable of parameter and group names.
        params: the model's parameter dict.

    Raises:
        ValueError: on a name that is neither a parameter nor a group (listing both).
    """
    if spec is None or spec == "all":
        return tuple(params)
    names = [spec] if isinstance(spec, str) else list(spec)
    chosen: set[str] = set()
    for name in names:
        if name in PARAMETER_GROUPS:
            chosen.update(n for n in PARAMETER_GROUPS[name] if n in params)
        elif name in params:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown parameter or group {name!r}; parameters: {sorted(params)}, "
                f"groups: {sorted(PARAMETER_GROUPS)}"
            )
    return tuple(n for n in params if n in chosen)


# --------------------------------------------------------------------------- shared forward


def _forward_one(small: Params, frozen: Params, buffers: Params, e_h: Tensor, e_r: Tensor,
                 config: ConvEConfig) -> tuple[Tensor, Tensor]:
    """x (F,) and f (d,) of ONE example from its rows e_h, e_r (d,), attribution mode."""
    p = {**frozen, **small}
    x, _ = conv_features(p, buffers, e_h[None], e_r[None], config)
    f, _ = fc_hidden(p, buffers, x, config)
    return x[0], f[0]


def _one_hot_loss(objective: OneHotObjective):
    """loss(small, e_h, e_r, e_t, b_t) of one example for a one-hot objective; aux (x, f, s_t)."""

    def loss(small, frozen, buffers, e_h, e_r, e_t, b_t, config):
        x, f = _forward_one(small, frozen, buffers, e_h, e_r, config)
        s_t = (f * e_t).sum() + b_t  # never the N-entity score vector
        return objective.loss(s_t), (x, f, s_t)

    return loss


def _dense_loss(objective: DenseObjective):
    """loss(small, e_h, e_r, E, b, t) of one example for a dense objective; aux (x, f, s)."""

    def loss(small, frozen, buffers, e_h, e_r, table, bias, t, config):
        x, f = _forward_one(small, frozen, buffers, e_h, e_r, config)
        s = table @ f + bias  # (N,)
        return objective.loss(s[None], t[None])[0], (x, f, s)

    return loss


def _split(params: Params, names: Iterable[str]) -> tuple[Params, Params]:
    names = set(names)
    return ({k: v for k, v in params.items() if k in names},
            {k: v for k, v in params.items() if k not in names})


def _bias(params: Params, ids: Tensor) -> Tensor:
    """b[ids], or zeros of the same shape when the model has no entity bias."""
    if "entity_bias" in params:
        return params["entity_bias"][ids]
    return params["entity_embedding"].new_zeros(ids.shape)


# --------------------------------------------------------------------------- structured factors


@dataclass
class Factors:
    """Low-rank factors of the per-sample gradients of B examples (docs/derivations.md section 3).

    With s = E f + b and u = dl/ds, the gradient of one example is
    entity table u f^T + e_h g^T, bias u, relation row r: k, fc weight delta x^T, fc bias delta,
    and ``small`` for the remaining (BatchNorm, conv) parameters.

    Attributes:
        h, r, t: (B,) int64 head, relation row and tail.
        f: (B, d) hidden vectors; g: (B, d) dl/de_h; k: (B, d) dl/de_r.
        delta: (B, d) dl/dz at the fc output z; x: (B, F) fc input features.
        small: (B, P) flattened gradients of ``small_names``.
        coef: (B,) l'(s_t) for a one-hot objective (u = coef e_t), else None.
        u: (B, N) dense dl/ds, else None.
    """

    h: Tensor
    r: Tensor
    t: Tensor
    f: Tensor
    g: Tensor
    k: Tensor
    delta: Tensor
    x: Tensor
    small: Tensor
    coef: Tensor | None = None
    u: Tensor | None = None

    def dense_u(self, num_entities: int) -> Tensor:
        """(B, N) u, scattering the one-hot coefficient when needed."""
        if self.u is not None:
            return self.u
        if self.coef is None:
            raise ValueError("Factors.dense_u: neither u nor coef is set")
        u = self.f.new_zeros(self.t.shape[0], num_entities)
        return u.scatter(1, self.t[:, None], self.coef[:, None])


#: Parameters whose gradients the structured path forms from factors, never materialised.
FACTORED = ("entity_embedding", "relation_embedding", "entity_bias", "fc.weight", "fc.bias")


#: Small parameters whose per-sample gradients are read off one batched backward by giving them
#: a per-sample axis (B, *shape); the conv weight instead comes from the conv-output gradient.
PER_SAMPLE = ("bn0.weight", "bn0.bias", "bn1.weight", "bn1.bias", "fc.bias", "bn2.weight",
              "bn2.bias")


@contextlib.contextmanager
def without_onednn() -> Iterator[None]:
    """Run CPU convolutions on ATen's own kernels inside the ``with`` body.

    For ConvE's single-channel 3x3 convolution they are about 3x faster than oneDNN's
    (forward and input gradient) on x86 CPUs; the results agree up to float rounding.

    ``torch.backends.mkldnn.enabled`` is process-global: it is set to False on entry and
    restored to the value it had (True or False) on exit, also when the body raises, and
    nested uses restore in order. While the body runs, CPU convolutions of other threads of
    the process use ATen's kernels too (same results up to rounding). CUDA convolutions are
    not affected.

    Yields:
        Nothing.
    """
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # torch stubs: ContextProp
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def _conv_weight_grads(d_maps: Tensor, img: Tensor, config: ConvEConfig) -> Tensor:
    """Per-sample conv-weight gradients (B, C, 1, kh, kw) from dl/d(maps) (B, C, h, w) and the
    conv input (B, 1, 2H, W): the correlation of each sample's input patches with its
    output gradient (patches as strided views; ``F.unfold`` is far slower on CPU here)."""
    kh, kw = config.kernel_height, config.kernel_width
    patches = img[:, 0].unfold(1, kh, 1).unfold(2, kw, 1)  # (B, h, w, kh, kw)
    grads = torch.einsum("bcyx,byxij->bcij", d_maps, patches)  # (B, C, kh, kw)
    return grads[:, :, None]


def conv_maps_gemm(params: Params, img: Tensor) -> Tensor:
    """:func:`kgif.model.conve.conv_maps` as one matrix product over the input patches.

    The (B, 1, 2H, W) input's 3x3 patches (strided views, no copy) times the (kh kw, C) weight
    matrix, plus the bias: the same sums as ``F.conv2d`` (cross-correlation, no padding), in
    another order, so equal up to float rounding (``tests/influence/test_grads.py``). On x86
    CPUs with one input channel it is 2-3x faster than ``F.conv2d`` forward plus input
    gradient at the seed project's shape (d = 32 as 8 x 4, batches of 4,096 examples), where
    ATen's and oneDNN's kernels loop over small images (``docs/scaling.md``).

    Args:
        params: ``conv.weight`` (C, 1, kh, kw) and ``conv.bias`` (C,).
        img: (B, 1, 2H, W) conv input.

    Returns:
        (B, C, 2H - kh + 1, W - kw + 1) feature maps.
    """
    weight = params["conv.weight"]
    channels, _, kh, kw = weight.shape
    patches = img[:, 0].unfold(1, kh, 1).unfold(2, kw, 1)  # (B, h, w, kh, kw), a view
    batch, height, width = patches.shape[:3]
    maps = patches.reshape(batch, height * width, kh * kw) @ weight.reshape(channels, -1).T
    maps = maps + params["conv.bias"]
    return maps.transpose(1, 2).reshape(batch, channels, height, width)


def structured_factors(params: Params, buffers: Params, config: ConvEConfig, examples: Tensor,
                       objective: Objective, small_names: Iterable[str],
                       conv_as_gemm: bool = True) -> Factors:
    """Gradient factors of B examples from one batched forward and backward pass.

    In attribution mode the examples of a batch are independent, so one backward of the summed
    loss gives each example's gradients with respect to its own activations and rows (g, k,
    delta). Per-sample gradients of the BatchNorm and fc-bias parameters are read off copies with
    a per-sample axis (B, *shape); the conv weight's and bias's come from the conv-output
    gradient (and the input patches). Exact; checked against ``vmap(grad)`` and a plain
    autograd loop in the tests.

    Args:
        params, buffers: one checkpoint's ConvE state (attribution mode).
        config: model hyper-parameters.
        examples: (B, 3) int64 (head, relation row, tail).
        objective: a one-hot objective (never forms the (B, N) scores) or a dense one.
        small_names: names of the non-factored parameters whose per-sample gradients are
            materialised (BatchNorm, conv), in a fixed order.
        conv_as_gemm: form the convolution as one matrix product over input patches
            (:func:`conv_maps_gemm`, default) instead of ``F.conv2d`` without oneDNN (the
            roofline bench times both).

    Returns:
        :class:`Factors` of dtype of ``params``.
    """
    h, r, t = examples.unbind(1)
    batch = len(h)
    with torch.enable_grad(), without_onednn():
        e_h = params["entity_embedding"][h].detach().requires_grad_(True)
        e_r = params["relation_embedding"][r].detach().requires_grad_(True)
        per_sample = {n: params[n].detach().expand(batch, *params[n].shape).requires_grad_(True)
                      for n in PER_SAMPLE if n in params}
        p = {**params, **per_sample}
        img, _ = conv_input(p, buffers, e_h, e_r, config)
        maps = conv_maps_gemm(p, img) if conv_as_gemm else conv_maps(p, img)
        x, _ = conv_output(p, buffers, maps, config)
        f, _ = fc_hidden(p, buffers, x, config)
        loss, coef, u = _objective_terms(params, f, t, objective)
        wrt = [e_h, e_r, maps, *per_sample.values()]
        g, k, d_maps, *d_per = torch.autograd.grad(loss, wrt)
    grads = dict(zip(per_sample, d_per, strict=True))
    grads["conv.bias"] = d_maps.sum((2, 3))  # (B, C)
    if "conv.weight" in small_names:
        grads["conv.weight"] = _conv_weight_grads(d_maps, img.detach(), config)
    flat = [grads[n].flatten(1) for n in small_names]
    small = torch.cat(flat, 1) if flat else f.new_zeros(batch, 0)
    return Factors(h, r, t, f.detach(), g, k, grads["fc.bias"], x.detach(), small, coef=coef, u=u)


def _objective_terms(params: Params, f: Tensor, t: Tensor, objective: Objective):
    """(summed loss, coef or None, u or None) of hidden vectors f (B, d) with tails t (B,)."""
    frozen: Params = {n: params[n].detach() for n in ("entity_embedding", "entity_bias")
                      if n in params}
    if objective.one_hot:
        s_t = score_tails(frozen, f, t)  # (B,): no N-entity score vector
        return objective.loss(s_t).sum(), objective.coefficient(s_t.detach()), None
    s = score_all(frozen, f)  # (B, N)
    return objective.loss(s, t).sum(), None, objective.u(s.detach(), t)


# --------------------------------------------------------------------------- generic path


@dataclass
class GradBlocks:
    """Materialised per-sample gradients of B examples, tables as gathered rows.

    Attributes:
        flat: (B, P) gradients of the non-table parameters of the subset, concatenated in
            subset order.
        rows: table name -> list of (ids (B,) int64, grads (B, w)) gathered-row blocks: the
            gradient of example b is the sum over blocks of ``grads[b]`` placed at row
            ``ids[b]`` (w = d for embeddings, 1 for the bias).
        full: table name -> (B, n_rows, w) dense per-sample gradient blocks (dense objectives).
    """

    flat: Tensor
    rows: dict[str, list[tuple[Tensor, Tensor]]]
    full: dict[str, Tensor]


def per_sample_grads(params: Params, buffers: Params, config: ConvEConfig, examples: Tensor,
                     objective: Objective, names: Iterable[str]) -> GradBlocks:
    """Per-sample gradients of B examples with ``vmap(grad)``, for the parameters ``names``.

    The one-example loss is differentiated with respect to the non-table parameters and the
    gathered rows e_h, e_r, e_t, b_t (one-hot objectives) or e_h, e_r and the whole entity
    table and bias (dense objectives; (B, N, d) per call, so keep B small).

    Args:
        params, buffers, config: one checkpoint's ConvE (attribution mode).
        examples: (B, 3) int64 (head, relation row, tail).
        objective: per-example objective.
        names: parameter subset (see :func:`resolve_parameters`).

    Returns:
        :class:`GradBlocks`.
    """
    names = tuple(names)
    small_names = tuple(n for n in names if n not in TABLES)
    small, frozen = _split(params, small_names)
    h, r, t = examples.unbind(1)
    e_h, e_r = params["entity_embedding"][h], params["relation_embedding"][r]
    if objective.one_hot:
        fn = grad(_one_hot_loss(objective), argnums=(0, 3, 4, 5, 6), has_aux=True)
        # params, buffers shared; rows mapped
        in_dims: tuple[int | None, ...] = (None, None, None, 0, 0, 0, 0, None)
        args: tuple = (params["entity_embedding"][t], _bias(params, t), config)
    else:
        fn = grad(_dense_loss(objective), argnums=(0, 3, 4, 5, 6), has_aux=True)
        in_dims = (None, None, None, 0, 0, None, None, 0, None)
        args = (params["entity_embedding"], _full_bias(params), t, config)
    (d_small, g_h, g_r, g_t, g_b), _ = vmap(fn, in_dims=in_dims)(
        small, frozen, buffers, e_h, e_r, *args)
    flat = [d_small[n].flatten(1) for n in small_names]
    blocks = GradBlocks(torch.cat(flat, 1) if flat else e_h.new_zeros(len(h), 0), {}, {})
    if "relation_embedding" in names:
        blocks.rows["relation_embedding"] = [(r, g_r)]
    if "entity_embedding" in names:
        blocks.rows["entity_embedding"] = [(h, g_h)]
        _add_target(blocks, "entity_embedding", objective, t, g_t)
    if "entity_bias" in names:
        blocks.rows["entity_bias"] = []
        _add_target(blocks, "entity_bias", objective, t, g_b[..., None])
    return blocks


def _full_bias(params: Params) -> Tensor:
    if "entity_bias" in params:
        return params["entity_bias"]
    return params["entity_embedding"].new_zeros(params["entity_embedding"].shape[0])


def _add_target(blocks: GradBlocks, name: str, objective: Objective, t: Tensor, g: Tensor):
    """Gradient w.r.t. the scored rows: gathered row t (one-hot) or every row (dense)."""
    if objective.one_hot:
        blocks.rows[name].append((t, g.reshape(len(t), -1)))
    else:
        blocks.full[name] = g.reshape(len(t), g.shape[1], -1)

"""ConvE as a pure function over a flat parameter dict and a buffer dict.

The computation follows PyKEEN's ``ConvEInteraction`` (Dettmers et al., AAAI 2018) so that
checkpoints convert by renaming alone:

    e_h, e_r (d,) -> reshape to (1, H, W) each -> stack along the height to (1, 2H, W)
    -> bn0 -> dropout(input) -> conv (C, kh, kw; no padding, bias) -> bn1 -> ReLU
    -> dropout2d(feature map) -> flatten x (F,) with F = C (2H - kh + 1)(W - kw + 1)
    -> fc z = W_fc x + b_fc (d,) -> dropout(output) -> bn2 -> ReLU = f(h, r) (d,)
    scores s = E f + b (N,) with a per-entity bias b.

Two modes share every function through the ``training`` flag:

* attribution mode (``training=False``): no dropout, BatchNorm with running statistics as
  constants. Pure and ``torch.func.vmap(grad(...))``-safe.
* training mode (``training=True``): dropout and batch statistics; the updated running
  statistics are *returned* as a new buffer dict, never written into the caller's tensors.

Parameter names (``params``): ``entity_embedding (N, d)``, ``entity_bias (N,)``,
``relation_embedding (R', d)`` with ``R' = 2R`` under reciprocal relations (PyKEEN numbering:
relation k at row 2k, its inverse at 2k+1), ``bn0.weight/bias (1,)``, ``conv.weight
(C, 1, kh, kw)``, ``conv.bias (C,)``, ``bn1.weight/bias (C,)``, ``fc.weight (d, F)``,
``fc.bias (d,)``, ``bn2.weight/bias (d,)``. Buffers: ``bnX.running_mean``, ``bnX.running_var``
and ``bnX.num_batches_tracked`` for X in 0, 1, 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

__all__ = [
    "BATCH_NORMS",
    "ConvEConfig",
    "Params",
    "conv_features",
    "conv_input",
    "conv_maps",
    "conv_output",
    "fc_hidden",
    "hidden",
    "hidden_from_rows",
    "init_conve",
    "score_all",
    "score_all_tails",
    "score_hrt",
    "score_tails",
]

Params = dict[str, Tensor]

#: BatchNorm layers of ConvE, in forward order, with the parameter name of their width.
BATCH_NORMS = ("bn0", "bn1", "bn2")
BN_EPS = 1e-5  # torch.nn.BatchNorm default, as in PyKEEN
BN_MOMENTUM = 0.1  # torch.nn.BatchNorm default, as in PyKEEN


def _default_image_shape(dim: int) -> tuple[int, int]:
    """(height, width) with height the largest divisor of ``dim`` not above sqrt(dim).

    Gives PyKEEN's choices for common sizes: 200 -> 10x20, 32 -> 4x8, 100 -> 10x10.
    """
    height = max(h for h in range(1, math.isqrt(dim) + 1) if dim % h == 0)
    return height, dim // height


#: The kind each :class:`ConvEConfig` field must hold (checked in ``__post_init__``).
_FIELD_KINDS: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("embedding_dim", "embedding_height", "embedding_width", "output_channels",
                     "kernel_height", "kernel_width"), int),
    **dict.fromkeys(("input_dropout", "feature_map_dropout", "output_dropout"), (int, float)),
    **dict.fromkeys(("apply_batch_normalization", "entity_bias", "reciprocal"), bool),
    "stacking": str, "extra": dict,
}
_KIND_NAMES = {int: "an integer", (int, float): "a number", bool: "true or false",
               str: "a string", dict: "a JSON object"}


@dataclass
class ConvEConfig:
    """Hyper-parameters of ConvE; defaults are PyKEEN's ``ConvE`` defaults.

    Attributes are plain Python values (JSON-serialisable through :meth:`to_dict`).

    Raises:
        ValueError: from ``__post_init__`` on a non-positive size, when ``embedding_height *
            embedding_width != embedding_dim``, a kernel does not fit the stacked image, a
            dropout is outside [0, 1), or ``stacking`` is unknown.
    """

    embedding_dim: int = 200  # d = H * W
    embedding_height: int | None = None  # H; None: the largest divisor of d <= sqrt(d)
    embedding_width: int | None = None  # W; None: d // H
    output_channels: int = 32  # C, convolution filters
    kernel_height: int = 3
    kernel_width: int = 3
    input_dropout: float = 0.2  # on the stacked image, after bn0
    feature_map_dropout: float = 0.2  # dropout2d on the conv feature maps
    output_dropout: float = 0.3  # on the fc output, before bn2
    apply_batch_normalization: bool = True  # bn0, bn1, bn2 as in PyKEEN
    entity_bias: bool = True  # per-entity score bias b (PyKEEN: yes; seed project: no)
    reciprocal: bool = True  # relation table holds 2R rows: r at 2r, inverse at 2r + 1
    stacking: Literal["height", "width"] = "height"  # PyKEEN: (1, 2H, W); seed: (1, H, 2W)
    extra: dict = field(default_factory=dict)  # free-form metadata carried with checkpoints

    def __post_init__(self) -> None:
        self._check_types()
        for name in ("embedding_dim", "embedding_height", "embedding_width", "output_channels",
                     "kernel_height", "kernel_width"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"ConvEConfig: {name}={value!r} must be a positive integer")
        height, width = self.embedding_height, self.embedding_width
        if height is None:
            height = (_default_image_shape(self.embedding_dim)[0] if width is None
                      else self.embedding_dim // width)
        if width is None:
            width = self.embedding_dim // height
        self.embedding_height, self.embedding_width = height, width
        if height * width != self.embedding_dim:
            raise ValueError(
                f"ConvEConfig: embedding_height * embedding_width = {self.embedding_height} * "
                f"{self.embedding_width} != embedding_dim = {self.embedding_dim}"
            )
        if self.stacking not in ("height", "width"):
            raise ValueError(f"ConvEConfig: stacking={self.stacking!r}, expected 'height'/'width'")
        for name in ("input_dropout", "feature_map_dropout", "output_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"ConvEConfig: {name}={p} is outside [0, 1)")
        img_h, img_w = self.image_shape
        if self.kernel_height > img_h or self.kernel_width > img_w:
            raise ValueError(
                f"ConvEConfig: kernel {self.kernel_height}x{self.kernel_width} does not fit the "
                f"stacked image {img_h}x{img_w}"
            )

    @classmethod
    def from_dict(cls, values: object, where: str) -> ConvEConfig:
        """A config from a JSON-like dict (a checkpoint's, ``convert --config``).

        Raises:
            ValueError: ``values`` is not a dict, names an unknown field, or a field fails
                ``__post_init__``; the message starts with ``where``.
        """
        if not isinstance(values, dict):
            raise ValueError(f"{where}: config is a {type(values).__name__}; expected a JSON "
                             "object of ConvEConfig fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: config has unknown field(s) {unknown}; expected some of "
                             f"{sorted(known)}")
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None

    def _check_types(self) -> None:
        """Each field holds its declared kind (a checkpoint or ``--config`` may hold anything)."""
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _FIELD_KINDS.get(f.name)
            if kind is None or (value is None and f.default is None):
                continue
            ok = (isinstance(value, bool) if kind is bool else
                  not isinstance(value, bool) and isinstance(value, kind))
            if not ok:
                raise ValueError(f"ConvEConfig: {f.name}={value!r} ({type(value).__name__}); "
                                 f"expected {_KIND_NAMES[kind]}")

    @property
    def embedding_shape(self) -> tuple[int, int]:
        """(H, W) of one embedding reshaped as an image, as resolved by ``__post_init__``.

        Raises:
            ValueError: if a field was set to None after construction.
        """
        height, width = self.embedding_height, self.embedding_width
        if height is None or width is None:
            raise ValueError(f"ConvEConfig: embedding_height={height}, embedding_width={width} "
                             "were set to None after construction")
        return height, width

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of the stacked head/relation image fed to the convolution."""
        height, width = self.embedding_shape
        if self.stacking == "height":
            return 2 * height, width
        return height, 2 * width

    @property
    def feature_map_shape(self) -> tuple[int, int]:
        """(height, width) of each convolution output map (no padding, stride 1)."""
        img_h, img_w = self.image_shape
        return img_h - self.kernel_height + 1, img_w - self.kernel_width + 1

    @property
    def num_features(self) -> int:
        """F = C * map height * map width: the fc input size (10368 for 10x20, C = 32)."""
        map_h, map_w = self.feature_map_shape
        return self.output_channels * map_h * map_w

    def num_relation_rows(self, num_relations: int) -> int:
        """Rows of the relation table for ``num_relations`` base relations."""
        return 2 * num_relations if self.reciprocal else num_relations

    def to_dict(self) -> dict:
        """Plain-dict form for JSON and checkpoints; ``ConvEConfig(**d)`` inverts it."""
        return asdict(self)


def init_conve(
    config: ConvEConfig,
    num_entities: int,
    num_relations: int,
    seed: int = 0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Params, Params]:
    """Initialise ConvE parameters and buffers as PyKEEN does.

    Embeddings: Xavier normal (PyKEEN's ``xavier_normal_`` default for ConvE); entity bias:
    zeros; conv and fc: torch's default ``nn.Conv2d`` / ``nn.Linear`` initialisation;
    BatchNorm: weight 1, bias 0, running mean 0, running variance 1.

    Args:
        config: the model hyper-parameters.
        num_entities: N, number of entities.
        num_relations: R, number of *base* relations (the table gets 2R rows when
            ``config.reciprocal``).
        seed: seed of a private generator; the global RNG is left untouched.
        dtype: floating dtype of parameters and running statistics.
        device: where to put the tensors.

    Returns:
        ``(params, buffers)``: flat ``dict[str, Tensor]``; see the module docstring for the
        names and shapes.

    Raises:
        ValueError: if ``num_entities`` or ``num_relations`` is not positive.
    """
    if num_entities < 1 or num_relations < 1:
        raise ValueError(
            f"init_conve: num_entities={num_entities} and num_relations={num_relations} "
            "must both be positive"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        d, c = config.embedding_dim, config.output_channels
        entity = torch.nn.init.xavier_normal_(torch.empty(num_entities, d))
        relation = torch.nn.init.xavier_normal_(
            torch.empty(config.num_relation_rows(num_relations), d)
        )
        conv = torch.nn.Conv2d(1, c, (config.kernel_height, config.kernel_width), bias=True)
        fc = torch.nn.Linear(config.num_features, d)
    params: Params = {
        "entity_embedding": entity,
        "relation_embedding": relation,
        **{f"conv.{name}": p.detach() for name, p in conv.named_parameters()},  # weight, bias
        "fc.weight": fc.weight.detach(),
        "fc.bias": fc.bias.detach(),
    }
    if config.entity_bias:
        params["entity_bias"] = torch.zeros(num_entities)
    buffers: Params = {}
    if config.apply_batch_normalization:
        for name, width in zip(BATCH_NORMS, (1, c, d), strict=True):
            params[f"{name}.weight"] = torch.ones(width)
            params[f"{name}.bias"] = torch.zeros(width)
            buffers[f"{name}.running_mean"] = torch.zeros(width)
            buffers[f"{name}.running_var"] = torch.ones(width)
            buffers[f"{name}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    params = {k: v.to(dtype=dtype, device=device).contiguous() for k, v in params.items()}
    buffers = {
        k: v.to(device=device) if v.dtype == torch.long else v.to(dtype=dtype, device=device)
        for k, v in buffers.items()
    }
    return params, buffers


# --------------------------------------------------------------------------- batch norm


def _channel_view(p: Tensor, x: Tensor) -> Tensor:
    """Per-channel values (C,) or per-sample (B, C) viewed to broadcast over x (B, C, ...)."""
    return p.reshape(p.shape + (1,) * (x.dim() - 2))


def _bn_eval(x: Tensor, params: Params, buffers: Params, name: str) -> tuple[Tensor, Params]:
    """BatchNorm with running statistics as constants (attribution mode); vmap-safe.

    The affine parameters may also carry a leading per-sample axis (B, C): that is how
    :func:`kgif.influence.grads.structured_factors` reads per-sample gradients off one batched
    backward.
    """
    mean = _channel_view(buffers[f"{name}.running_mean"], x)
    inv_std = torch.rsqrt(_channel_view(buffers[f"{name}.running_var"], x) + BN_EPS)
    scale = _channel_view(params[f"{name}.weight"], x) * inv_std
    shift = _channel_view(params[f"{name}.bias"], x) - mean * scale
    return torch.addcmul(shift, x, scale), {}  # x * scale + shift: one pass over x


def _bn_train(x: Tensor, params: Params, buffers: Params, name: str) -> tuple[Tensor, Params]:
    """BatchNorm with batch statistics; returns fresh running statistics (not in place)."""
    mean = buffers[f"{name}.running_mean"].clone()
    var = buffers[f"{name}.running_var"].clone()
    y = F.batch_norm(
        x, mean, var, params[f"{name}.weight"], params[f"{name}.bias"],
        training=True, momentum=BN_MOMENTUM, eps=BN_EPS,
    )  # fmt: skip
    tracked = buffers[f"{name}.num_batches_tracked"] + 1
    updates = {
        f"{name}.running_mean": mean,
        f"{name}.running_var": var,
        f"{name}.num_batches_tracked": tracked,
    }
    return y, updates


def _bn_off(x: Tensor, params: Params, buffers: Params, name: str) -> tuple[Tensor, Params]:
    """No batch normalisation (``apply_batch_normalization=False``)."""
    return x, {}


def _batch_norm(config: ConvEConfig, training: bool) -> Callable:
    """Pick the BatchNorm function for a configuration and mode."""
    if not config.apply_batch_normalization:
        return _bn_off
    return {True: _bn_train, False: _bn_eval}[training]


# --------------------------------------------------------------------------- forward


def _stack(e_h: Tensor, e_r: Tensor, config: ConvEConfig) -> Tensor:
    """(B, d), (B, d) -> (B, 1, 2H, W) stacked along the height (PyKEEN) or the width (seed)."""
    pattern = "b (h w) -> b 1 h w"
    h_img = rearrange(e_h, pattern, h=config.embedding_height)
    r_img = rearrange(e_r, pattern, h=config.embedding_height)
    axis = {"height": 2, "width": 3}[config.stacking]
    return torch.cat([h_img, r_img], dim=axis)


def conv_input(params: Params, buffers: Params, e_h: Tensor, e_r: Tensor, config: ConvEConfig,
               training: bool = False) -> tuple[Tensor, Params]:
    """Stacked image after bn0 and input dropout: (B, d), (B, d) -> (B, 1, 2H, W), updates."""
    img = _stack(e_h, e_r, config)  # (B, 1, 2H, W)
    img, updates = _batch_norm(config, training)(img, params, buffers, "bn0")
    return F.dropout(img, config.input_dropout, training=training), updates


def conv_maps(params: Params, img: Tensor) -> Tensor:
    """Convolution with bias, no padding: (B, 1, 2H, W) -> (B, C, 2H-kh+1, W-kw+1)."""
    return F.conv2d(img, params["conv.weight"], params["conv.bias"])


def conv_output(params: Params, buffers: Params, maps: Tensor, config: ConvEConfig,
                training: bool = False) -> tuple[Tensor, Params]:
    """bn1, ReLU, feature-map dropout, flatten: (B, C, h, w) -> x (B, F), updates."""
    maps, updates = _batch_norm(config, training)(maps, params, buffers, "bn1")
    maps = F.dropout2d(F.relu(maps), config.feature_map_dropout, training=training)
    return maps.flatten(1), updates  # (B, C*(2H-2)*(W-2))


def conv_features(params: Params, buffers: Params, e_h: Tensor, e_r: Tensor, config: ConvEConfig,
                  training: bool = False) -> tuple[Tensor, Params]:
    """The convolutional block: stacked image -> flattened feature maps.

    Args:
        params, buffers: ConvE parameter and buffer dicts.
        e_h: (B, d) head-entity embedding rows.
        e_r: (B, d) relation embedding rows.
        config: the model hyper-parameters.
        training: dropout and batch statistics when True; attribution mode when False.

    Returns:
        ``(x, updates)``: x is (B, F) float, F = ``config.num_features``; updates holds the new
        running statistics of bn0 and bn1 in training mode, else is empty.
    """
    img, up0 = conv_input(params, buffers, e_h, e_r, config, training)
    x, up1 = conv_output(params, buffers, conv_maps(params, img), config, training)
    return x, {**up0, **up1}


def fc_hidden(params: Params, buffers: Params, x: Tensor, config: ConvEConfig,
              training: bool = False) -> tuple[Tensor, Params]:
    """The fully connected block: features x (B, F) -> hidden vector f (B, d).

    ``z = x W_fc^T + b_fc``, then dropout, bn2 and ReLU. Returns ``(f, updates)`` as
    :func:`conv_features` does (updates: bn2's new running statistics in training mode).
    """
    z = F.linear(x, params["fc.weight"]) + params["fc.bias"]  # (B, d); bias (d,) or (B, d)
    z = F.dropout(z, config.output_dropout, training=training)
    z, up2 = _batch_norm(config, training)(z, params, buffers, "bn2")
    return F.relu(z), up2


def hidden_from_rows(params: Params, buffers: Params, e_h: Tensor, e_r: Tensor,
                     config: ConvEConfig, training: bool = False) -> tuple[Tensor, Params]:
    """f(h, r) (B, d) from gathered embedding rows e_h, e_r (B, d); returns ``(f, updates)``."""
    x, up = conv_features(params, buffers, e_h, e_r, config, training)
    f, up2 = fc_hidden(params, buffers, x, config, training)
    return f, {**up, **up2}


def hidden(params: Params, buffers: Params, h: Tensor, r: Tensor, config: ConvEConfig,
           training: bool = False) -> tuple[Tensor, Params]:
    """f(h, r) (B, d) for head ids h (B,) int64 and relation-row ids r (B,) int64.

    ``r`` indexes the relation table directly: with reciprocal relations pass ``2k`` for
    relation k and ``2k + 1`` for its inverse. Returns ``(f, updates)``.
    """
    e_h = params["entity_embedding"][h]
    e_r = params["relation_embedding"][r]
    return hidden_from_rows(params, buffers, e_h, e_r, config, training)


def score_all(params: Params, f: Tensor) -> Tensor:
    """1-N scores s = E f + b: (B, d) hidden vectors -> (B, N) logits."""
    s = f @ params["entity_embedding"].T  # (B, N)
    if "entity_bias" in params:
        s = s + params["entity_bias"]
    return s


@torch.no_grad()
def score_all_tails(params: Params, buffers: Params, h: Tensor, r: Tensor, config: ConvEConfig
                    ) -> Tensor:
    """Eval-mode 1-N logits of every entity as the tail of each query (h, r, ?).

    The one model-over-all-tails scorer of kgif (evaluation ranks, predictions, benchmarks):
    ``score_all(params, hidden(params, buffers, h, r, config))`` without gradients, on the
    device of ``params`` (``h`` and ``r`` are moved there). ConvE 1-N scoring, Dettmers et
    al. 2018, eq. 1. Callers batch the queries: the result holds ``B * N`` floats.

    Args:
        params, buffers: ConvE parameter and buffer dicts.
        h: (B,) int64 head ids (the known entity of each query).
        r: (B,) int64 relation-table rows (``2k`` for relation k, ``2k + 1`` for its inverse).
        config: the model hyper-parameters.

    Returns:
        (B, N) logits in the dtype of ``params``, on their device.
    """
    device = params["entity_embedding"].device
    f, _ = hidden(params, buffers, h.to(device), r.to(device), config)  # (B, d)
    return score_all(params, f)  # (B, N)


def score_tails(params: Params, f: Tensor, t: Tensor) -> Tensor:
    """Scores of given tails: f (B, d), t (B,) int64 -> (B,) logits ``<f, E[t]> + b[t]``.

    Never forms the (B, N) score matrix.
    """
    s = (f * params["entity_embedding"][t]).sum(-1)
    if "entity_bias" in params:
        s = s + params["entity_bias"][t]
    return s


def score_hrt(
    params: Params, buffers: Params, hrt: Tensor, config: ConvEConfig
) -> Tensor:
    """Attribution-mode logits of triples ``hrt`` (B, 3) int64 (relation column = table row).

    Returns:
        (B,) logits, dtype of the parameters.
    """
    f, _ = hidden(params, buffers, hrt[:, 0], hrt[:, 1], config)
    return score_tails(params, f, hrt[:, 2])

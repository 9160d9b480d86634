"""Inner products of per-sample gradients: the TracIn kernel of one checkpoint.

Structured path (DESIGN.md section 4): with u = dl/ds, the gradient of example i is
entity table u_i f_i^T + e_{h_i} g_i^T, bias u_i, relation row r_i: k_i, fc weight
delta_i x_i^T, fc bias delta_i, plus small materialised parameters. For a left example i
(training) and a right example j (test):

    entity table  <u_i,u_j><f_i,f_j> + u_j[h_i]<g_i,f_j> + u_i[h_j]<f_i,g_j> + [h_i=h_j]<g_i,g_j>
    bias          <u_i,u_j>
    relation      [r_i=r_j]<k_i,k_j>
    fc weight     <delta_i,delta_j><x_i,x_j>;   fc bias <delta_i,delta_j>
    small         <s_i,s_j>

Every term is a matrix product (all pairs, (B, T)) or a row-wise product (diagonal, (B,)),
chosen by a :class:`Pairing`. The right side always carries a dense u (T, N); a one-hot left u
is read through look-ups, so a training example never needs its N-entity score vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from kgif.grads import Factors, GradBlocks

__all__ = ["ALL_PAIRS", "DIAGONAL", "FACTOR_TERMS", "Pairing", "as_right", "densify",
           "generic_scores", "merge_directions", "structured_scores"]


@dataclass(frozen=True)
class Pairing:
    """How left rows (B) meet right rows: every pair (B, T) or row by row (B,), B = T.

    Attributes:
        dot: a (B, w), b (T, w) -> <a_i, b_j>.
        eq: ids a (B,), b (T,) -> [a_i = b_j] as a float tensor of ``like``'s dtype.
        at: right values U (T, N), left ids (B,) -> U[j, a_i].
        at_left: left values U (B, N), right ids (T,) -> U[i, b_j].
        scale: left scalars c (B,), pair tensor M -> c_i M_ij.
    """

    dot: Callable[[Tensor, Tensor], Tensor]
    eq: Callable[[Tensor, Tensor, Tensor], Tensor]
    at: Callable[[Tensor, Tensor], Tensor]
    at_left: Callable[[Tensor, Tensor], Tensor]
    scale: Callable[[Tensor, Tensor], Tensor]


ALL_PAIRS = Pairing(
    dot=lambda a, b: a @ b.T,
    eq=lambda a, b, like: (a[:, None] == b[None, :]).to(like.dtype),
    at=lambda u, ids: u[:, ids].T,
    at_left=lambda u, ids: u[:, ids],
    scale=lambda c, m: c[:, None] * m,
)

DIAGONAL = Pairing(
    dot=lambda a, b: (a * b).sum(-1),
    eq=lambda a, b, like: (a == b).to(like.dtype),
    at=lambda u, ids: u.gather(1, ids[:, None])[:, 0],
    at_left=lambda u, ids: u.gather(1, ids[:, None])[:, 0],
    scale=lambda c, m: c * m,
)


def as_right(factors: Factors, num_entities: int) -> Factors:
    """The right-side (cached test) form of ``factors``: u made dense (T, N)."""
    return replace(factors, u=factors.dense_u(num_entities), coef=None)


def _u_products(a: Factors, b: Factors, p: Pairing) -> tuple[Tensor, Tensor]:
    """(<u_i, u_j>, u_i[h_j]) for a left ``a`` (one-hot or dense u) and a dense right ``b``."""
    if a.u is None:  # one-hot left: u_i = coef_i e_{t_i}
        uu = p.scale(a.coef, p.at(b.u, a.t))
        uh = p.scale(a.coef, p.eq(a.t, b.h, a.f))
        return uu, uh
    return p.dot(a.u, b.u), p.at_left(a.u, b.h)


def _entity_term(a: Factors, b: Factors, p: Pairing, uu: Tensor, uh: Tensor) -> Tensor:
    return (uu * p.dot(a.f, b.f) + p.at(b.u, a.h) * p.dot(a.g, b.f) + uh * p.dot(a.f, b.g)
            + p.eq(a.h, b.h, a.f) * p.dot(a.g, b.g))


#: One term per factored parameter: (left, right, pairing, <u,u>, u_left[h_right]) -> scores.
FACTOR_TERMS: dict[str, Callable[..., Tensor]] = {
    "entity_embedding": _entity_term,
    "entity_bias": lambda a, b, p, uu, uh: uu,
    "relation_embedding": lambda a, b, p, uu, uh: p.eq(a.r, b.r, a.f) * p.dot(a.k, b.k),
    "fc.weight": lambda a, b, p, uu, uh: p.dot(a.delta, b.delta) * p.dot(a.x, b.x),
    "fc.bias": lambda a, b, p, uu, uh: p.dot(a.delta, b.delta),
}


def structured_scores(left: Factors, right: Factors, factored: tuple[str, ...],
                      pairing: Pairing = ALL_PAIRS) -> Tensor:
    """Inner products <grad l(left_i), grad l(right_j)> from factors, exactly.

    Args:
        left: factors of B examples (one-hot or dense u).
        right: factors of T examples with dense u (see :func:`as_right`).
        factored: which factored parameters (keys of :data:`FACTOR_TERMS`) are in the subset;
            the small parameters are whatever ``small`` holds on both sides.
        pairing: :data:`ALL_PAIRS` -> (B, T); :data:`DIAGONAL` -> (B,) with B = T.

    Returns:
        Scores in the factors' dtype.
    """
    uu, uh = _u_products(left, right, pairing)
    total = pairing.dot(left.small, right.small)
    for name in factored:
        total = total + FACTOR_TERMS[name](left, right, pairing, uu, uh)
    return total


# --------------------------------------------------------------------------- generic path


def merge_directions(blocks: GradBlocks) -> GradBlocks:
    """Sum the per-sample gradients of rows i and i + B/2 (an edge's two directions)."""
    half = blocks.flat.shape[0] // 2
    rows = {name: [(ids[s], g[s]) for ids, g in parts for s in (slice(0, half), slice(half, None))]
            for name, parts in blocks.rows.items()}
    full = {name: g[:half] + g[half:] for name, g in blocks.full.items()}
    return GradBlocks(blocks.flat[:half] + blocks.flat[half:], rows, full)


def densify(blocks: GradBlocks, table_rows: dict[str, int]) -> dict[str, Tensor]:
    """Dense per-sample table gradients name -> (B, n_rows, w), scattering gathered rows."""
    batch = blocks.flat.shape[0]
    dense = {}
    for name, parts in blocks.rows.items():
        width = parts[0][1].shape[-1] if parts else blocks.full[name].shape[-1]
        table = blocks.flat.new_zeros(batch, table_rows[name], width)
        if name in blocks.full:
            table = table + blocks.full[name]
        for ids, g in parts:
            table = table.index_put((torch.arange(batch, device=ids.device), ids), g,
                                    accumulate=True)
        dense[name] = table
    return dense


def generic_scores(left: GradBlocks, right_flat: Tensor, right_tables: dict[str, Tensor]) -> Tensor:
    """(B, T) inner products of materialised left gradients with a densified right side.

    Args:
        left: per-sample gradients of B examples (or edges).
        right_flat: (T, P) non-table gradients of the right side.
        right_tables: name -> (T, n_rows, w) dense table gradients (from :func:`densify`).
    """
    total = left.flat @ right_flat.T
    for name, parts in left.rows.items():
        for ids, g in parts:
            total = total + torch.einsum("bw,tbw->bt", g, right_tables[name][:, ids])
    for name, g in left.full.items():
        total = total + torch.einsum("bnw,tnw->bt", g, right_tables[name])
    return total

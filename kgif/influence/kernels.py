"""Inner products of per-sample gradients: the TracIn kernel of one checkpoint.

Structured path (docs/derivations.md section 4): with u = dl/ds, the gradient of example i is
entity table u_i f_i^T + e_{h_i} g_i^T, bias u_i, relation row r_i: k_i, fc weight
delta_i x_i^T, fc bias delta_i, plus small materialised parameters. For a left example i
(training) and a right example j (test):

    entity table  <u_i,u_j><f_i,f_j> + u_j[h_i]<g_i,f_j> + u_i[h_j]<f_i,g_j> + [h_i=h_j]<g_i,g_j>
    bias          <u_i,u_j>
    relation      [r_i=r_j]<k_i,k_j>
    fc weight     <delta_i,delta_j><x_i,x_j>;   fc bias <delta_i,delta_j>
    small         <s_i,s_j>

Every term is a matrix product (all pairs, (B, T)) or a row-wise product (diagonal, (B,)),
chosen by a :class:`Pairing`. A one-hot u (u = coef e_t, objectives ``score`` and
``pointwise_bce``) is read through look-ups on either side, so neither a training example nor a
cached test example needs its N-entity score vector: T = 750 dense test rows of a 1 M-entity
graph would be 3 GB per checkpoint. Only a dense objective (``bce_1n``) carries u as (., N).

Matched pairs: when both sides are one-hot, the entity-table and entity-bias terms are
non-zero only where two entity ids coincide ([t_i = t_j], [h_i = t_j], [t_i = h_j],
[h_i = h_j]), which at 1 M entities is a tiny fraction of the (B, T) pairs. They are read
at the matched pairs only (:attr:`Pairing.match`: sort the right ids, bisect the left ones)
and added into the result, instead of forming four dense equality masks and multiplying
them in (:data:`ONE_HOT_TERMS`). Exact: the same products, summed in a different order.

Row sharing: training examples that share their (head, relation row) share x and f, so
``x_products`` (the (B, T) matrix <x_i, x_j>, the largest pair product: F = C h w terms per
pair against d for the others) may be computed once per distinct row and gathered
(:func:`shared_x_products`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from kgif.influence.grads import Factors, GradBlocks

__all__ = ["ALL_PAIRS", "DIAGONAL", "FACTOR_TERMS", "ONE_HOT_TERMS", "Matched", "Pairing",
           "as_right", "densify", "generic_scores", "merge_directions", "row_groups",
           "shared_x_products",
           "structured_scores"]


@dataclass(frozen=True)
class Pairing:
    """How left rows (B) meet right rows: every pair (B, T) or row by row (B,), B = T.

    Attributes:
        dot: a (B, w), b (T, w) -> <a_i, b_j>.
        eq: ids a (B,), b (T,) -> [a_i = b_j] as a float tensor of ``like``'s dtype.
        at: right values U (T, N), left ids (B,) -> U[j, a_i].
        at_left: left values U (B, N), right ids (T,) -> U[i, b_j].
        scale: left scalars c (B,), pair tensor M -> c_i M_ij.
        scale_right: right scalars c (T,), pair tensor M -> M_ij c_j.
        match: ids a (B,), b (T,) -> (i, j) int64 index pairs with a_i = b_j (all such pairs;
            on the diagonal the positions with a_i = b_i, j = i).
        pick: pair tensor M, (i, j) -> its entries at those pairs.
        zeros: left ids (B,), right ids (T,), like -> a zero pair tensor of like's dtype.
        add_at: pair tensor M, (i, j), values -> M with the values added at those pairs.
        add_at_: the same, in place (M is returned).
        size: left ids (B,), right ids (T,) -> the number of pairs (B T, or B).
    """

    dot: Callable[[Tensor, Tensor], Tensor]
    eq: Callable[[Tensor, Tensor, Tensor], Tensor]
    at: Callable[[Tensor, Tensor], Tensor]
    at_left: Callable[[Tensor, Tensor], Tensor]
    scale: Callable[[Tensor, Tensor], Tensor]
    scale_right: Callable[[Tensor, Tensor], Tensor]
    match: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
    pick: Callable[[Tensor, Tensor, Tensor], Tensor]
    zeros: Callable[[Tensor, Tensor, Tensor], Tensor]
    add_at: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
    add_at_: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
    size: Callable[[Tensor, Tensor], int]


def _join(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Every (i, j) with a_i = b_j, by sorting b and bisecting (B log T, no (B, T) mask)."""
    sorted_b, order = torch.sort(b)
    a = a.contiguous()  # ids are often a column view of the triples
    lo = torch.searchsorted(sorted_b, a)
    counts = torch.searchsorted(sorted_b, a, right=True) - lo
    i = torch.repeat_interleave(torch.arange(len(a), device=a.device), counts)
    shift = torch.repeat_interleave(lo - (counts.cumsum(0) - counts), counts)
    return i, order[shift + torch.arange(len(i), device=a.device)]


def _same_positions(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    i = (a == b).nonzero()[:, 0]
    return i, i


ALL_PAIRS = Pairing(
    dot=lambda a, b: a @ b.T,
    eq=lambda a, b, like: (a[:, None] == b[None, :]).to(like.dtype),
    at=lambda u, ids: u[:, ids].T,
    at_left=lambda u, ids: u[:, ids],
    scale=lambda c, m: c[:, None] * m,
    scale_right=lambda c, m: m * c[None, :],
    match=_join,
    pick=lambda m, i, j: m[i, j],
    zeros=lambda a, b, like: like.new_zeros(len(a), len(b)),
    add_at=lambda m, i, j, v: m.index_put((i, j), v, accumulate=True),
    add_at_=lambda m, i, j, v: m.index_put_((i, j), v, accumulate=True),
    size=lambda a, b: len(a) * len(b),
)

DIAGONAL = Pairing(
    dot=lambda a, b: (a * b).sum(-1),
    eq=lambda a, b, like: (a == b).to(like.dtype),
    at=lambda u, ids: u.gather(1, ids[:, None])[:, 0],
    at_left=lambda u, ids: u.gather(1, ids[:, None])[:, 0],
    scale=lambda c, m: c * m,
    scale_right=lambda c, m: m * c,
    match=_same_positions,
    pick=lambda m, i, j: m[i],
    zeros=lambda a, b, like: like.new_zeros(len(a)),
    add_at=lambda m, i, j, v: m.index_add(0, i, v),
    add_at_=lambda m, i, j, v: m.index_add_(0, i, v),
    size=lambda a, b: len(a),
)


def as_right(factors: Factors, num_entities: int) -> Factors:
    """The right-side (cached test) form of ``factors``.

    A one-hot u stays one-hot (``coef`` (T,), ``u`` None: O(T) memory); a dense u is kept as
    (T, N). ``num_entities`` is checked against a dense u's width.

    Raises:
        ValueError: if a dense u is not (T, num_entities).
    """
    if factors.u is not None and factors.u.shape[-1] != num_entities:
        raise ValueError(f"as_right: dense u has {factors.u.shape[-1]} columns, expected "
                         f"num_entities={num_entities}")
    return factors


def _coef(factors: Factors) -> Tensor:
    """(B,) coef of one-hot factors (u is None)."""
    if factors.coef is None:
        raise ValueError("structured_scores: factors carry neither a dense u nor a coef")
    return factors.coef


def _u_products(a: Factors, b: Factors, p: Pairing) -> tuple[Tensor, Tensor, Tensor]:
    """(<u_i, u_j>, u_i[h_j], u_j[h_i]) for a left ``a`` and a right ``b``, each one-hot
    (u = coef e_t) or dense."""
    if a.u is None:  # one-hot left: u_i = coef_i e_{t_i}
        uh = p.scale(_coef(a), p.eq(a.t, b.h, a.f))
        if b.u is None:  # one-hot right too: coef_i coef_j [t_i = t_j]
            uu = p.scale_right(_coef(b), p.scale(_coef(a), p.eq(a.t, b.t, a.f)))
        else:
            uu = p.scale(_coef(a), p.at(b.u, a.t))
    else:
        uh = p.at_left(a.u, b.h)
        uu = p.dot(a.u, b.u) if b.u is not None else p.scale_right(_coef(b),
                                                                   p.at_left(a.u, b.t))
    hu = (p.at(b.u, a.h) if b.u is not None
          else p.scale_right(_coef(b), p.eq(a.h, b.t, a.f)))
    return uu, uh, hu


@dataclass
class _Products:
    """Shared pair products of one (left, right) call: <u_i,u_j>, u_i[h_j], u_j[h_i] (dense
    (B, T) tensors; None when both sides are one-hot, whose terms use matched pairs), and
    <x_i, x_j> when precomputed (row sharing), else None."""

    uu: Tensor | None
    uh: Tensor | None
    hu: Tensor | None
    xx: Tensor | None = None


def _one_hot_products(a: Factors, b: Factors, p: Pairing, xx: Tensor | None) -> _Products:
    return _Products(None, None, None, xx)


def _dense_products(a: Factors, b: Factors, p: Pairing, xx: Tensor | None) -> _Products:
    return _Products(*_u_products(a, b, p), xx)


def _entity_term(a: Factors, b: Factors, p: Pairing, q: _Products) -> Tensor:
    if q.uu is None or q.hu is None or q.uh is None:
        raise ValueError("structured_scores: the dense entity term needs dense u products")
    return (q.uu * p.dot(a.f, b.f) + q.hu * p.dot(a.g, b.f) + q.uh * p.dot(a.f, b.g)
            + p.eq(a.h, b.h, a.f) * p.dot(a.g, b.g))


class Matched(NamedTuple):
    """A term that is non-zero at a few pairs only: values ``v`` (M,) at pairs (``i``, ``j``)
    (M,) int64 each; :func:`structured_scores` adds every such term into the result at once."""

    i: Tensor
    j: Tensor
    v: Tensor


def _matched(parts: list[Matched]) -> Matched:
    return Matched(*(torch.cat(x) for x in zip(*parts, strict=True)))


def _one_hot_entity_term(a: Factors, b: Factors, p: Pairing, q: _Products) -> Matched:
    """The entity term with u = coef e_t on both sides: each of its four products is non-zero
    only where two entity ids coincide, so it is read at the matched pairs only."""
    coef_a, coef_b = _coef(a), _coef(b)
    one_a, one_b = torch.ones_like(coef_a), torch.ones_like(coef_b)
    parts = []
    for ids_a, ids_b, vec_a, vec_b, c_a, c_b in (
            (a.t, b.t, a.f, b.f, coef_a, coef_b),  # <u_i,u_j><f_i,f_j>
            (a.h, b.t, a.g, b.f, one_a, coef_b),  # u_j[h_i] <g_i,f_j>
            (a.t, b.h, a.f, b.g, coef_a, one_b),  # u_i[h_j] <f_i,g_j>
            (a.h, b.h, a.g, b.g, one_a, one_b)):  # [h_i = h_j] <g_i,g_j>
        i, j = p.match(ids_a, ids_b)
        parts.append(Matched(i, j, c_a[i] * c_b[j] * _matched_dots(vec_a, vec_b, i, j)))
    return _matched(parts)


#: Matched pairs whose d-vectors are gathered at once (bounds the memory of a hub entity).
MATCH_CHUNK = 1 << 18


def _matched_dots(a: Tensor, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """(M,) <a_i, b_j> at M matched pairs, gathering MATCH_CHUNK pairs at a time."""
    parts = [(a[i[s:s + MATCH_CHUNK]] * b[j[s:s + MATCH_CHUNK]]).sum(-1)
             for s in range(0, len(i), MATCH_CHUNK)]
    return torch.cat(parts) if parts else a.new_zeros(0)


def _one_hot_bias_term(a: Factors, b: Factors, p: Pairing, q: _Products) -> Matched:
    """<u_i, u_j> = coef_i coef_j [t_i = t_j], at the matched pairs."""
    i, j = p.match(a.t, b.t)
    return Matched(i, j, _coef(a)[i] * _coef(b)[j])


#: The relation term is read at matched pairs when they are at most this fraction of all
#: pairs (then the index scatter costs less than a dense mask, product and sum; measured by
#: the roofline bench), else formed densely.
RELATION_MATCH_FRACTION = 0.125


def _relation_term(a: Factors, b: Factors, p: Pairing, q: _Products) -> Tensor | Matched:
    """[r_i = r_j] <k_i, k_j>: at the matched pairs when few pairs share a relation row (the
    seed job: 750 test triples of one relation, 2.6 % of the edges), else a dense mask."""
    i, j = p.match(a.r, b.r)
    if len(i) > RELATION_MATCH_FRACTION * p.size(a.r, b.r):
        return p.eq(a.r, b.r, a.f) * p.dot(a.k, b.k)
    return Matched(i, j, _matched_dots(a.k, b.k, i, j))


def _fc_weight_term(a: Factors, b: Factors, p: Pairing, q: _Products) -> Tensor:
    xx = p.dot(a.x, b.x) if q.xx is None else q.xx
    return p.dot(a.delta, b.delta) * xx


def _fc_terms(a: Factors, b: Factors, p: Pairing, q: _Products) -> Tensor:
    """fc weight plus fc bias, <delta_i,delta_j> (<x_i,x_j> + 1): one delta product for both."""
    plus_one = p.dot(a.x, b.x).add_(1.0) if q.xx is None else q.xx + 1.0  # q.xx: the caller's
    return plus_one.mul_(p.dot(a.delta, b.delta))


#: One term per factored parameter: (left, right, pairing, shared products) -> scores.
FACTOR_TERMS: dict[str, Callable[..., Tensor | Matched]] = {
    "entity_embedding": _entity_term,
    "entity_bias": lambda a, b, p, q: q.uu,
    "relation_embedding": lambda a, b, p, q: p.eq(a.r, b.r, a.f) * p.dot(a.k, b.k),
    "fc.weight": _fc_weight_term,
    "fc.bias": lambda a, b, p, q: p.dot(a.delta, b.delta),
}

#: The same terms when both sides are one-hot: the entity table and bias at matched pairs
#: (:class:`Matched`), the relation term too when few pairs share a relation row.
ONE_HOT_TERMS: dict[str, Callable[..., Tensor | Matched]] = {
    **FACTOR_TERMS,
    "entity_embedding": _one_hot_entity_term,
    "entity_bias": _one_hot_bias_term,
    "relation_embedding": _relation_term,
}

#: u kind of the (left, right) call -> (shared products, terms).
_BY_U_KIND: dict[str, tuple[Callable[..., _Products],
                             dict[str, Callable[..., Tensor | Matched]]]] = {
    "one-hot": (_one_hot_products, ONE_HOT_TERMS),
    "dense": (_dense_products, FACTOR_TERMS),
}


def structured_scores(left: Factors, right: Factors, factored: tuple[str, ...],
                      pairing: Pairing = ALL_PAIRS, x_products: Tensor | None = None) -> Tensor:
    """Inner products <grad l(left_i), grad l(right_j)> from factors, exactly.

    Args:
        left: factors of B examples (one-hot or dense u).
        right: factors of T examples (see :func:`as_right`), one-hot or dense u.
        factored: which factored parameters (keys of :data:`FACTOR_TERMS`) are in the subset;
            the small parameters are whatever ``small`` holds on both sides.
        pairing: :data:`ALL_PAIRS` -> (B, T); :data:`DIAGONAL` -> (B,) with B = T.
        x_products: optional precomputed <x_i, x_j> in the pairing's shape (row sharing,
            :func:`shared_x_products`); None computes it from ``left.x`` and ``right.x``.

    Returns:
        Scores in the factors' dtype.
    """
    kind = "one-hot" if left.u is None and right.u is None else "dense"
    shared, terms = _BY_U_KIND[kind]
    products = shared(left, right, pairing, x_products)
    total = pairing.dot(left.small, right.small)  # a fresh tensor: the sums below are in place
    names = list(factored)
    if "fc.weight" in names and "fc.bias" in names:
        names.remove("fc.weight")
        names.remove("fc.bias")
        total += _fc_terms(left, right, pairing, products)
    matched = []
    for name in names:
        term = terms[name](left, right, pairing, products)
        if isinstance(term, Matched):
            matched.append(term)
        else:
            total += term
    if matched:
        i, j, v = _matched(matched)
        total = pairing.add_at_(total, i, j, v)
    return total


def row_groups(h: Tensor, r: Tensor, num_relation_rows: int) -> tuple[Tensor, Tensor]:
    """Distinct (head, relation row) pairs of B examples.

    Args:
        h, r: (B,) int64 head and relation row (r in [0, num_relation_rows)).
        num_relation_rows: rows of the relation table.

    Returns:
        ``(first, inverse)``: (R,) int64 index of the first example of each distinct row, and
        (B,) int64 position of each example's row in ``first`` (so ``first[inverse]`` is an
        example with the same row). On CUDA ``torch.unique`` synchronises with the host.
    """
    key = h * num_relation_rows + r
    distinct, inverse = torch.unique(key, return_inverse=True)
    n_rows = len(distinct)
    positions = torch.arange(len(key), device=key.device)
    first = torch.full((n_rows,), len(key), dtype=torch.long, device=key.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    return first, inverse


def shared_x_products(x: Tensor, first: Tensor, inverse: Tensor, right_x: Tensor) -> Tensor:
    """(B, T) <x_i, x_j> computed once per distinct training row, then gathered.

    Exact whenever examples with equal rows have equal x (true in attribution mode: x depends
    on (e_h, e_r) only, docs/derivations.md section 1).

    Args:
        x: (B, F) fc inputs of the left examples.
        first, inverse: from :func:`row_groups`.
        right_x: (T, F) fc inputs of the right examples.
    """
    return (x[first] @ right_x.T)[inverse]


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

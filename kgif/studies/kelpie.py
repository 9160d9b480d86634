"""Kelpie's end-to-end necessary-explanation protocol (Rossi et al., SIGMOD 2022).

The benchmark the link-prediction explanation field reports (AndRossi/Kelpie, reused by
eXpath, PVLDB 2025), run with kgif's explainers:

1. **targets** (:func:`rank1_targets`): test facts <h, r, t> whose filtered **tail** rank under
   the original model is 1, drawn at random (seeded); or read from a label TSV
   (:func:`read_targets`: every line must be a test fact). Only tail prediction is explained.
2. **candidates** (:func:`candidate_rows`): the training facts that mention h (as head or
   tail), Kelpie's choice; option ``"all"``: every training fact.
3. **explanation** (:func:`rank_candidates`, :func:`choose`): the top-k candidates of a method
   for each target (k in 1..4, Kelpie's explanations have 1 to 4 facts), or a total **budget**
   of facts spread over the targets (:func:`allocate_budget`).
4. **one retraining per (method, k)**: the union of all targets' explanation facts leaves the
   training split (both reciprocal directions, :func:`kgif.studies.faithfulness.delete_edges`)
   and ConvE is retrained once from scratch with the original hyper-parameters and seed
   (:class:`kgif.studies.retrain_cache.RetrainCache`, resumable, cached).
5. **ΔH@1 and ΔMRR** (:func:`kelpie_deltas`) of the targets' filtered tail ranks after minus
   before, as Kelpie's ``print_end_to_end_results.py`` computes them (without its rounding to 3
   decimals), with kgif's bootstrap intervals and paired sign-flip tests
   (:func:`summarize_kelpie`).

Baselines on the same model and budget: ``random`` (random candidates, seeded per target),
``similarity`` (candidates whose f(h, r) is closest in cosine to the target's, as
:mod:`kgif.studies.faithfulness`), ``null`` (nothing removed; the original seed, so it measures
how far a retraining alone moves the targets) and ``null_seed<s>`` (nothing removed, another
seed: retraining noise).

Ranks are realistic filtered ranks (mean of optimistic and pessimistic, as PyKEEN); a target has
rank 1 only when its tail scores strictly above every other unfiltered entity. Kelpie sorts the
scores and takes the ordinal position, which breaks exact ties arbitrarily.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import torch
from torch import Tensor

from kgif._io import atomic_write_json, atomic_write_text
from kgif.data.graph import KnowledgeGraph
from kgif.data.tsv import iter_label_rows
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint, content_digest
from kgif.model.conve import hidden, score_all_tails
from kgif.studies.faithfulness import METHODS, Attribution, bootstrap_ci, sign_flip_test
from kgif.studies.faithfulness import target_metrics as _target_metrics
from kgif.studies.retrain_cache import (
    PROTOCOL_VERSION,
    RetrainCache,
    RetrainJob,
    graph_digest,
    triples_digest_ordered,
)

__all__ = ["CANDIDATE_SCOPES", "KELPIE_METHODS", "MAX_FACTS", "KelpieResult", "Ranking",
           "allocate_budget", "cached_ranking", "candidate_rows", "choose", "job_names",
           "kelpie_deltas", "kelpie_jobs", "rank1_targets", "rank_candidates", "read_targets",
           "run_kelpie", "runner_up", "summarize_kelpie", "write_targets"]

logger = logging.getLogger(__name__)

#: Most facts per target (Kelpie's explanations have 1 to 4 facts).
MAX_FACTS = 4

#: The explainers of the protocol: kgif's TracIn variants and the baselines (``random`` here
#: draws among the candidates, not among all training facts).
KELPIE_METHODS: dict[str, Attribution] = {
    **{name: METHODS[name] for name in ("tracin", "tracin_cosine", "tracin_relatif",
                                        "tracin_embeddings", "tracin_last", "random",
                                        "similarity")},
    "tracin_margin": Attribution("tracin_margin", kind="tracin_margin"),
}

#: Candidate scopes: training facts mentioning h (Kelpie), or all training facts.
CANDIDATE_SCOPES = ("head", "all")


# --------------------------------------------------------------------------- targets


def rank1_targets(ckpt: Checkpoint, kg: KnowledgeGraph, n: int, seed: int = 0) -> Tensor:
    """Up to ``n`` test facts with filtered tail rank 1 under ``ckpt``, drawn at random.

    Args:
        ckpt: the original model.
        kg: the graph (test split: the pool; train + valid + test: the filter).
        n: targets wanted (>= 1).
        seed: seed of the draw (``torch.randperm`` over the rank-1 facts, in test order).

    Returns:
        (T, 3) int64 test facts in the drawn order, T = min(n, number of rank-1 facts).

    Raises:
        ValueError: on ``n < 1`` or when no test fact has rank 1.
    """
    if n < 1:
        raise ValueError(f"rank1_targets: n={n} must be >= 1")
    rank = _target_metrics(ckpt, kg.testing, kg.all_triples())["rank"]
    pool = torch.nonzero(rank == 1)[:, 0]
    if len(pool) == 0:
        raise ValueError(f"rank1_targets: no test fact has filtered tail rank 1 (best "
                         f"{float(rank.min())})")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return kg.testing[pool[order[:n]]]


def read_targets(path: str | Path, kg: KnowledgeGraph) -> Tensor:
    """Target facts from a label TSV (head, relation, tail labels; one fact a line).

    Returns:
        (T, 3) int64 facts in file order.

    Raises:
        ValueError: naming the file and line, on a wrong column count, an unknown label, a
            fact that is not in the test split, a repeated fact, or an empty file.
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_targets: no targets file at {path}")
    test = {tuple(x) for x in kg.testing.tolist()}
    rows: list[tuple[int | None, ...]] = []
    seen: dict[tuple[int | None, ...], int] = {}
    for lineno, (h, r, t) in iter_label_rows(path, 3, "read_targets"):
        ids = (kg.entity_to_id.get(h), kg.relation_to_id.get(r), kg.entity_to_id.get(t))
        where = f"read_targets: line {lineno} of {path}: ({h}, {r}, {t})"
        if None in ids:
            raise ValueError(f"{where} names a label that is not in the dataset")
        if ids not in test:
            raise ValueError(f"{where} is not a test fact of {kg.name or 'the dataset'}")
        if ids in seen:
            raise ValueError(f"{where} repeats line {seen[ids]}")
        seen[ids] = lineno
        rows.append(ids)
    if not rows:
        raise ValueError(f"read_targets: {path} holds no target fact")
    return torch.tensor(rows, dtype=torch.long)


def write_targets(path: str | Path, kg: KnowledgeGraph, targets: Tensor) -> Path:
    """Write (T, 3) facts as a label TSV that :func:`read_targets` reads back."""
    lines = [f"{kg.entity_label(h)}\t{kg.relation_label(r)}\t{kg.entity_label(t)}\n"
             for h, r, t in torch.as_tensor(targets).tolist()]
    return atomic_write_text(path, "".join(lines))


# --------------------------------------------------------------------------- candidates


def candidate_rows(train: Tensor, targets: Tensor, scope: str = "head") -> list[Tensor] | None:
    """Each target's candidate explanation facts.

    Args:
        train: (n, 3) int64 training facts.
        targets: (T, 3) int64 target facts.
        scope: ``"head"``: the training facts mentioning the target's head h (as head or
            tail); ``"all"``: every training fact.

    Returns:
        T tensors of rows of ``train`` (ascending) for ``"head"``; None (all rows) for
        ``"all"``.

    Raises:
        ValueError: on an unknown scope.
    """
    if scope not in CANDIDATE_SCOPES:
        raise ValueError(f"candidate_rows: scope={scope!r}; use one of {CANDIDATE_SCOPES}")
    if scope == "all":
        return None
    return [torch.nonzero((train[:, 0] == h) | (train[:, 2] == h))[:, 0]
            for h in targets[:, 0].tolist()]


# --------------------------------------------------------------------------- rankings


@dataclass
class Ranking:
    """A method's best candidates per target, best first.

    Attributes:
        rows: (T, D) int64 rows of the training split; -1 pads where fewer than D exist.
        scores: (T, D) float64 the method's scores (higher: more important); NaN pads.
        seconds: wall seconds of the extraction (read from the cache: as recorded when it was
            computed).
        cached: whether it was read from the cache.
    """

    rows: Tensor
    scores: Tensor
    seconds: float = 0.0
    cached: bool = False


def _tracin_ranking(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                    targets: Tensor, candidates: list[Tensor] | None, depth: int,
                    seed: int, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
    chosen = list(ckpts) if method.checkpoints == "all" else [ckpts[-1]]
    tracin = TracIn(chosen, train, train_objective=method.objective,
                    test_objective=method.objective, parameters=method.parameters,
                    normalize=method.normalize, show_progress=False)
    props, _ = tracin.top_influences(targets, depth, candidates=candidates)
    return props.indices.cpu(), props.influence_scores.cpu()


def _rows_of(candidates: list[Tensor] | None, j: int, n: int) -> Tensor:
    return torch.arange(n) if candidates is None else candidates[j]


def _random_ranking(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                    targets: Tensor, candidates: list[Tensor] | None, depth: int,
                    seed: int, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
    rows = torch.full((len(targets), depth), -1, dtype=torch.long)
    for j in range(len(targets)):
        pool = _rows_of(candidates, j, len(train))
        gen = torch.Generator().manual_seed(1_000_003 * seed + j)
        pick = pool[torch.randperm(len(pool), generator=gen)[:depth]]
        rows[j, : len(pick)] = pick
    # equal scores across targets: the budget goes round-robin (allocate_budget)
    scores = (depth - torch.arange(depth, dtype=torch.float64)).expand(len(targets), -1).clone()
    return rows, scores.masked_fill(rows < 0, math.nan)


def _hidden_batched(ckpt: Checkpoint, h: Tensor, r: Tensor, size: int = 4096) -> Tensor:
    """(B, d) unit-norm f(h, r) in evaluation mode, computed ``size`` rows at a time."""
    out = []
    with torch.no_grad():
        for i in range(0, len(h), size):
            f, _ = hidden(ckpt.params, ckpt.buffers, h[i:i + size], r[i:i + size], ckpt.config)
            out.append(torch.nn.functional.normalize(f, dim=1))
    return torch.cat(out) if out else ckpt.params["entity_embedding"].new_empty(0, 0)


def _similarity_ranking(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                        targets: Tensor, candidates: list[Tensor] | None, depth: int,
                        seed: int, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
    last = ckpts[-1]
    pool = torch.arange(len(train)) if candidates is None else torch.unique(torch.cat(candidates))
    f_train = _hidden_batched(last, train[pool, 0], 2 * train[pool, 1])  # (P, d)
    f_test = _hidden_batched(last, targets[:, 0], 2 * targets[:, 1])  # (T, d)
    position = torch.full((len(train),), -1, dtype=torch.long)
    position[pool] = torch.arange(len(pool))
    rows = torch.full((len(targets), depth), -1, dtype=torch.long)
    scores = torch.full((len(targets), depth), math.nan, dtype=torch.float64)
    for j in range(len(targets)):
        mine = _rows_of(candidates, j, len(train))
        sim = (f_train[position[mine]] @ f_test[j]).double()  # (E_j,) cosine
        top = sim.argsort(descending=True, stable=True)[:depth]
        rows[j, : len(top)], scores[j, : len(top)] = mine[top], sim[top]
    return rows, scores


def runner_up(ckpt: Checkpoint, targets: Tensor, known: Tensor) -> Tensor:
    """The strongest rival of each target's tail: the highest-scoring entity c* that is not
    a known tail of (h, r) (the filtered setting of Bordes et al., NeurIPS 2013).

    A rank-1 target keeps rank 1 exactly while s(h, r, t) > s(h, r, c*): c* is the entity a
    necessary explanation has to let overtake t.

    Args:
        ckpt: the explained model (eval mode; reciprocal relations, row ``2 r`` for tails).
        targets: (T, 3) int64 target facts (base relation ids).
        known: (m, 3) int64 known true facts filtered out (train + valid + test), which
            include the targets themselves.

    Returns:
        (T,) int64 entity ids; ties: the smallest id.

    Raises:
        ValueError: when a target's (h, r) has every entity as a known tail.
    """
    with torch.no_grad():
        scores = score_all_tails(ckpt.params, ckpt.buffers, targets[:, 0], 2 * targets[:, 1],
                                 ckpt.config).double()  # (T, N)
    for j, (h, r, t) in enumerate(targets.tolist()):
        tails = known[(known[:, 0] == h) & (known[:, 1] == r), 2]
        scores[j, tails] = -math.inf
        scores[j, t] = -math.inf
    if torch.isinf(scores).all(1).any():
        bad = int(torch.nonzero(torch.isinf(scores).all(1))[0, 0])
        raise ValueError(f"runner_up: target {targets[bad].tolist()} has no unknown tail to "
                         "compete with")
    return scores.argmax(1)


def _margin_ranking(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                    targets: Tensor, candidates: list[Tensor] | None, depth: int,
                    seed: int, known: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """TracInCP of the margin s(h, r, t) - s(h, r, c*), c* = :func:`runner_up` under the last
    checkpoint: by linearity of TracInCP in the test gradient (Pruthi et al., NeurIPS 2020,
    eq. 3), the score TracIn of the target minus that of (h, r, c*)."""
    if known is None:
        raise ValueError("rank_candidates: tracin_margin needs the known facts (known=...)")
    rivals = targets.clone()
    rivals[:, 2] = runner_up(ckpts[-1], targets, known)
    tracin = TracIn(list(ckpts), train, show_progress=False)
    both = torch.cat([targets, rivals])
    if candidates is None:
        full = tracin.influence(both).double()
        margins = list(full[: len(targets)] - full[len(targets):])
        pools = [torch.arange(len(train))] * len(targets)
    else:
        scored = [x.double() for x in tracin.candidate_influence(both, candidates * 2)]
        margins = [scored[j] - scored[len(targets) + j] for j in range(len(targets))]
        pools = candidates
    rows = torch.full((len(targets), depth), -1, dtype=torch.long)
    scores = torch.full((len(targets), depth), math.nan, dtype=torch.float64)
    for j, (pool, margin) in enumerate(zip(pools, margins, strict=True)):
        order = torch.argsort(pool)  # ties: the smaller row first
        top = margin[order].argsort(descending=True, stable=True)[:depth]
        rows[j, : len(top)], scores[j, : len(top)] = pool[order][top], margin[order][top]
    return rows, scores


_RANKERS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {
    "tracin": _tracin_ranking, "random": _random_ranking, "similarity": _similarity_ranking,
    "tracin_margin": _margin_ranking,
}


def rank_candidates(method: str, checkpoints: Sequence[Checkpoint], train: Tensor,
                    targets: Tensor, candidates: list[Tensor] | None, depth: int = MAX_FACTS,
                    seed: int = 0, known: Tensor | None = None) -> Ranking:
    """The ``depth`` best candidates of a method for each target.

    TracIn variants: the top proponents (largest TracInCP scores, :class:`kgif.influence.tracin.
    TracIn` with the variant's objective, parameters and normalisation) among the candidates;
    ``random``: a seeded random order of the candidates (target j uses seed
    ``1_000_003 * seed + j``); ``similarity``: the candidates whose f(h, r) at the last
    checkpoint is closest in cosine to the target's; ``tracin_margin``: the largest TracInCP
    of the margin s(h, r, t) - s(h, r, c*) over the target's strongest filtered rival c*
    (:func:`runner_up`), which needs ``known``.

    Args:
        method: a name of :data:`KELPIE_METHODS`.
        checkpoints: the original run's checkpoints (TracInCP weights as stored).
        train: (n, 3) int64 training facts.
        targets: (T, 3) int64 target facts.
        candidates: :func:`candidate_rows` (None: all training facts).
        depth: candidates kept per target (>= 1).
        seed: seed of ``random``.
        known: (m, 3) int64 known facts (train + valid + test) filtered out of the rivals of
            ``tracin_margin``; unused by the other methods.

    Returns:
        :class:`Ranking` with its wall seconds.

    Raises:
        ValueError: on an unknown method or ``depth < 1``.
    """
    if method not in KELPIE_METHODS:
        raise ValueError(f"rank_candidates: unknown method {method!r}; known: "
                         f"{list(KELPIE_METHODS)}")
    if depth < 1:
        raise ValueError(f"rank_candidates: depth={depth} must be >= 1")
    attribution = KELPIE_METHODS[method]
    start = time.perf_counter()
    rows, scores = _RANKERS[attribution.kind](attribution, checkpoints, train, targets,
                                              candidates, depth, seed, known=known)
    return Ranking(rows.long(), scores.double(), time.perf_counter() - start)


# --------------------------------------------------------------------------- explanations


def allocate_budget(scores: Tensor, budget: int) -> Tensor:
    """How many facts each target gets when ``budget`` facts are spread over the targets.

    Greedy by relative influence: every target's best candidate first (in target order while
    the budget lasts), then the remaining facts go one at a time to the (target, j-th
    candidate) with the largest score relative to that target's best, ``s_j / |s_1|``, never
    skipping a better candidate of the same target (scores are sorted, so the ratios fall
    with j). Relative scores make targets with large gradients (hubs) not take the whole
    budget; a method whose scores are equal across targets (``random``) goes round-robin.

    Args:
        scores: (T, D) float scores sorted descending per row; NaN where no candidate.
        budget: total facts (>= 1, at most the number of non-NaN scores).

    Returns:
        (T,) int64 counts, summing to ``budget``, each <= D.

    Raises:
        ValueError: on a budget outside [1, available candidates].
    """
    valid = ~torch.isnan(scores)
    available = int(valid.sum())
    if not 1 <= budget <= available:
        raise ValueError(f"allocate_budget: budget={budget} must be in [1, {available}] (the "
                         "candidates available over all targets)")
    top = scores[:, :1].abs().clamp_min(torch.finfo(torch.float64).tiny)
    key = (scores / top).masked_fill(~valid, -math.inf)
    key[:, 0] = key[:, 0].masked_fill(valid[:, 0], math.inf)  # every target's best first
    t_idx, j_idx = torch.nonzero(valid, as_tuple=True)
    order = sorted(range(len(t_idx)), key=lambda i: (-float(key[t_idx[i], j_idx[i]]),
                                                     int(j_idx[i]), int(t_idx[i])))
    counts = torch.zeros(len(scores), dtype=torch.long)
    for i in order[:budget]:
        counts[t_idx[i]] += 1
    return counts


def choose(ranking: Ranking, k: int | None = None, budget: int | None = None) -> Tensor:
    """The explanation of every target: its top-k candidates, or its share of a budget.

    Args:
        ranking: :func:`rank_candidates`.
        k: facts per target (1 <= k <= the ranking's depth), or
        budget: total facts (:func:`allocate_budget`); exactly one of the two.

    Returns:
        (T, D) int64 rows; -1 where a slot is not chosen.

    Raises:
        ValueError: when not exactly one of k and budget is given, or k is out of range.
    """
    if (k is None) == (budget is None):
        raise ValueError("choose: give exactly one of k and budget")
    depth = ranking.rows.shape[1]
    if k is not None:
        if not 1 <= k <= depth:
            raise ValueError(f"choose: k={k} must be in [1, {depth}]")
        counts = torch.full((len(ranking.rows),), k, dtype=torch.long)
    else:
        counts = allocate_budget(ranking.scores, cast(int, budget))  # k is None: budget is not
    keep = torch.arange(depth)[None, :] < counts[:, None]
    return ranking.rows.masked_fill(~keep, -1)


# --------------------------------------------------------------------------- measurement


def kelpie_deltas(before_rank: Tensor, after_rank: Tensor) -> dict[str, float]:
    """ΔH@1 and ΔMRR of the targets, as Kelpie defines them.

    H@1 = fraction of targets with rank <= 1, MRR = mean of 1 / rank, each after minus before
    (Kelpie's ``scripts/experiments/end_to_end/print_end_to_end_results.py``, which rounds each
    to 3 decimals first; not rounded here).

    Args:
        before_rank, after_rank: (T,) filtered tail ranks (float; realistic ranks allowed).

    Returns:
        ``{"h1": ΔH@1, "mrr": ΔMRR, "h1_before", "h1_after", "mrr_before", "mrr_after"}``.

    Raises:
        ValueError: on empty, mismatched or non-positive ranks.
    """
    before = torch.as_tensor(before_rank, dtype=torch.float64).reshape(-1)
    after = torch.as_tensor(after_rank, dtype=torch.float64).reshape(-1)
    if len(before) == 0 or before.shape != after.shape or bool((before < 1).any() |
                                                                 (after < 1).any()):
        raise ValueError(f"kelpie_deltas: need equally many ranks >= 1, got {before.tolist()} "
                         f"and {after.tolist()}")
    out = {"h1_before": float((before <= 1).double().mean()),
           "h1_after": float((after <= 1).double().mean()),
           "mrr_before": float(before.reciprocal().mean()),
           "mrr_after": float(after.reciprocal().mean())}
    return {"h1": out["h1_after"] - out["h1_before"], "mrr": out["mrr_after"] - out["mrr_before"],
            **out}


def _per_target(before: Tensor, after: Tensor) -> dict[str, Tensor]:
    """(T,) changes of the hit indicator (rank <= 1) and of the reciprocal rank."""
    return {"h1": (after <= 1).double() - (before <= 1).double(),
            "mrr": after.reciprocal() - before.reciprocal()}


def summarize_kelpie(before_rank: Tensor, after: dict[str, Tensor],
                     baselines: Sequence[str] = ("random", "null", "null_seed"),
                     n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """One row per retraining: ΔH@1 and ΔMRR with 95% bootstrap intervals of the per-target
    changes (:func:`kgif.studies.faithfulness.bootstrap_ci`) and, against each baseline job
    present (``random@k`` for ``m@k``; ``null``; every retraining-noise row ``null_seedN``
    for ``"null_seed"``), the paired sign-flip p-value of the per-target differences
    (:func:`~kgif.studies.faithfulness.sign_flip_test`). Only deletion rows (names with
    ``@``) are paired.

    Args:
        before_rank: (T,) the original model's target ranks.
        after: job name -> (T,) ranks after its retraining.

    Returns:
        Rows ``{"job", "h1", "h1_ci", "mrr", "mrr_ci", "vs": {baseline job: {"h1_p",
        "mrr_p"}}}``.
    """
    rows = []
    for job, ranks in after.items():
        change = _per_target(before_rank, ranks)
        vs: dict[str, dict] = {}
        row: dict[str, object] = {"job": job, **kelpie_deltas(before_rank, ranks), "vs": vs}
        for q in ("h1", "mrr"):
            row[f"{q}_ci"] = list(bootstrap_ci(change[q], n_boot, seed=seed)[1:])
        for base in baselines:
            if base == "null_seed":
                others = sorted(n for n in after if n.startswith("null_seed"))
            else:
                others = [base if base == "null" else f"{base}@{job.split('@', 1)[-1]}"]
            for other in others:
                if other == job or other not in after or "@" not in job:
                    continue
                base_change = _per_target(before_rank, after[other])
                vs[other] = {f"{q}_p": sign_flip_test(change[q] - base_change[q], seed=seed)
                             for q in ("h1", "mrr")}
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- the study


def kelpie_jobs(explanations: dict[str, Tensor], training_seed: int,
                noise_seeds: Sequence[int] = ()) -> list[RetrainJob]:
    """The retrainings of a study: one per explanation set (its union of rows, with the
    original run's seed), the null retraining (nothing removed, the original seed) and one
    null per noise seed (nothing removed, another seed: the retraining noise)."""
    jobs = [RetrainJob(name, torch.unique(rows[rows >= 0]), training_seed)
            for name, rows in explanations.items()]
    jobs.append(RetrainJob("null", torch.empty(0, dtype=torch.long), training_seed))
    jobs += [RetrainJob(f"null_seed{s}", torch.empty(0, dtype=torch.long), s)
             for s in dict.fromkeys(noise_seeds) if s != training_seed]
    return jobs


def job_names(methods: Sequence[str], ks: Sequence[int], budget: int | None,
              training_seed: int, noise_seeds: Sequence[int] = ()) -> list[str]:
    """The names of the jobs :func:`run_kelpie` makes, known before any extraction."""
    names = []
    for method in methods:
        names += [f"{method}@{k}" for k in ks]
        names += [f"{method}@budget{budget}"] if budget is not None else []
    return names + ["null"] + [f"null_seed{s}" for s in dict.fromkeys(noise_seeds)
                               if s != training_seed]


@dataclass
class KelpieResult:
    """What :func:`run_kelpie` returns.

    Attributes:
        targets: (T, 3) target facts.
        before: the original model's :func:`kgif.studies.faithfulness.target_metrics`.
        extraction_seconds: method -> wall seconds of :func:`rank_candidates` (for a ranking
            read from the cache, the seconds recorded when it was computed; NaN if none).
        explanations: ``"method@k"`` / ``"method@budgetB"`` -> (T, D) chosen rows (-1: none).
        jobs: the retrainings (:func:`kelpie_jobs`).
        status: job name -> ``"done"``, ``"partial (epoch E)"`` or ``"pending"``.
        after: job name -> (T,) ranks, for finished jobs.
        retrain_seconds: job name -> wall seconds of its training (finished jobs): of the
            process that finished it, so only the epochs after ``retrain_resumed_from``.
        retrain_resumed_from: job name -> the epoch that process resumed from (0: trained in
            one go).
        null_reproduces_original: whether the null retraining's parameters and buffers
            (BatchNorm statistics) equal the original model's bit for bit (None until it has
            run).
        extraction_cached: the methods whose ranking was read from the cache.
    """

    targets: Tensor
    before: dict[str, Tensor]
    extraction_seconds: dict[str, float] = field(default_factory=dict)
    explanations: dict[str, Tensor] = field(default_factory=dict)
    jobs: list[RetrainJob] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    after: dict[str, Tensor] = field(default_factory=dict)
    retrain_seconds: dict[str, float] = field(default_factory=dict)
    retrain_resumed_from: dict[str, int] = field(default_factory=dict)
    null_reproduces_original: bool | None = None
    extraction_cached: list[str] = field(default_factory=list)


def _ranking_key(method: str, checkpoints: Sequence[Checkpoint], kg: KnowledgeGraph,
                 targets: Tensor, scope: str, depth: int, seed: int) -> str:
    spec = {"method": asdict(KELPIE_METHODS[method]), "scope": scope, "depth": depth,
            "seed": seed, "targets": triples_digest_ordered(targets),
            "graph": graph_digest(kg), "checkpoints": [content_digest(c) for c in checkpoints],
            "version": PROTOCOL_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def cached_ranking(cache_dir: Path, method: str, checkpoints: Sequence[Checkpoint],
                   kg: KnowledgeGraph, targets: Tensor, scope: str, seed: int) -> Ranking:
    """:func:`rank_candidates` at depth :data:`MAX_FACTS`, cached as JSON under
    ``cache_dir/rankings`` (keyed by method, scope, seed, targets, graph and checkpoints)."""
    key = _ranking_key(method, checkpoints, kg, targets, scope, MAX_FACTS, seed)
    path = cache_dir / "rankings" / f"{method}-{key}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        scores = torch.tensor([[math.nan if s is None else s for s in row]
                               for row in saved["scores"]], dtype=torch.float64)
        return Ranking(torch.tensor(saved["rows"], dtype=torch.long), scores,
                       float(saved.get("seconds", math.nan)), cached=True)
    ranking = rank_candidates(method, checkpoints, kg.training, targets,
                              candidate_rows(kg.training, targets, scope), MAX_FACTS, seed,
                              known=kg.all_triples())
    atomic_write_json(path, {"rows": ranking.rows.tolist(), "seconds": ranking.seconds,
                             "scores": [[None if math.isnan(s) else s for s in row]
                                        for row in ranking.scores.tolist()]})
    return ranking


def run_kelpie(kg: KnowledgeGraph, checkpoints: Sequence[Checkpoint], cache: RetrainCache, *,
               targets: Tensor, methods: Sequence[str] = ("tracin", "random"),
               ks: Sequence[int] = (1,), budget: int | None = None, candidates: str = "head",
               seed: int = 0, noise_seeds: Sequence[int] = (),
               run_jobs: Sequence[str] | None = None) -> KelpieResult:
    """Kelpie's end-to-end necessary protocol with kgif's explainers (module docstring).

    Args:
        kg: the original graph.
        checkpoints: the original run's checkpoints; the last is the explained model.
        cache: the retrainings' cache (its configuration is the original run's).
        targets: (T, 3) target test facts (:func:`rank1_targets` or :func:`read_targets`).
        methods: names of :data:`KELPIE_METHODS`.
        ks: facts per target, each in 1..:data:`MAX_FACTS`.
        budget: optional total facts spread over the targets (:func:`allocate_budget`).
        candidates: :data:`CANDIDATE_SCOPES`.
        seed: the seed of the ``random`` baseline (the retrainings use the original run's
            training seed, ``cache.training_config.seed``).
        noise_seeds: training seeds of extra null retrainings (retraining noise).
        run_jobs: names of the jobs to train now (None: all); the others are reported with
            their cache status (finished ones are read from the cache).

    Returns:
        :class:`KelpieResult`.

    Raises:
        ValueError: on an unknown method, scope or job name, k outside 1..4, a bad budget, or
            targets that are not test facts.
    """
    _check_arguments(kg, targets, methods, ks, budget, candidates)
    names = job_names(methods, ks, budget, cache.training_config.seed, noise_seeds)
    unknown = sorted(set(run_jobs or ()) - set(names))
    if unknown:
        raise ValueError(f"run_kelpie: unknown jobs {unknown}; this study has {names}")
    result = KelpieResult(targets, _target_metrics(checkpoints[-1], targets, kg.all_triples()))
    for method in methods:
        ranking = cached_ranking(cache.folder, method, checkpoints, kg, targets, candidates, seed)
        result.extraction_seconds[method] = ranking.seconds
        if ranking.cached:
            result.extraction_cached.append(method)
        for k in ks:
            result.explanations[f"{method}@{k}"] = choose(ranking, k=k)
        if budget is not None:
            result.explanations[f"{method}@budget{budget}"] = choose(ranking, budget=budget)
    result.jobs = kelpie_jobs(result.explanations, cache.training_config.seed, noise_seeds)
    names = [job.name for job in result.jobs]
    for job in result.jobs:
        if run_jobs is None or job.name in run_jobs:
            cache.run(job)
        result.status[job.name] = cache.status(job)
        if result.status[job.name] == "done":
            result.after[job.name] = cache.metrics(job, targets)["rank"]
            # "done" means its result.json was read
            done = cast(dict, cache.result(job))
            result.retrain_seconds[job.name] = done["seconds"]
            result.retrain_resumed_from[job.name] = int(done.get("resumed_from_epoch", 0))
    if "null" in result.after:
        null = cache.final_model(result.jobs[names.index("null")])
        original = checkpoints[-1]
        result.null_reproduces_original = (_same_tensors(null.params, original.params)
                                           and _same_tensors(null.buffers, original.buffers))
    return result


def _same_tensors(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    """Whether two tensor dicts have the same names and bit-identical values."""
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


def _check_arguments(kg: KnowledgeGraph, targets: Tensor, methods: Sequence[str],
                     ks: Sequence[int], budget: int | None, candidates: str) -> None:
    unknown = [m for m in methods if m not in KELPIE_METHODS]
    if unknown:
        raise ValueError(f"run_kelpie: unknown methods {unknown}; known: {list(KELPIE_METHODS)}")
    if candidates not in CANDIDATE_SCOPES:
        raise ValueError(f"run_kelpie: candidates={candidates!r}; use one of {CANDIDATE_SCOPES}")
    bad = [k for k in ks if not 1 <= k <= MAX_FACTS]
    if bad:
        raise ValueError(f"run_kelpie: k={bad} outside 1..{MAX_FACTS}")
    if budget is not None and not 1 <= budget <= MAX_FACTS * len(targets):
        raise ValueError(f"run_kelpie: budget={budget} must be in [1, {MAX_FACTS * len(targets)}]"
                         f" ({MAX_FACTS} facts for each of {len(targets)} targets)")
    test = {tuple(x) for x in kg.testing.tolist()}
    missing = [tuple(x) for x in torch.as_tensor(targets).tolist() if tuple(x) not in test]
    if missing:
        raise ValueError(f"run_kelpie: targets {missing[:3]} are not test facts")

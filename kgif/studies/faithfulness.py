"""Deletion-retraining faithfulness of attribution methods: do the named edges matter?

Protocol (Bhardwaj et al., "Adversarial Attacks on Knowledge Graph Embeddings via Instance
Attribution Methods", EMNLP 2021; leave-some-out retraining as in dattri's LOO metric):

1. train ConvE once (the *original* model, with checkpoints for TracInCP), under the
   retrainings' thread count, and check that a retraining with nothing deleted reproduces it
   bit for bit;
2. pick target test triples the original model ranks well (:func:`select_targets`);
3. for every attribution method of :data:`METHODS` and k, take the k training edges the method
   names for a target, delete them from the training split (:func:`delete_edges`: every copy of
   the triple, so under reciprocal training both directions are gone), retrain from scratch
   with the same seed and configuration over the original run's rows, order and batches
   (:func:`retrain`, protocol ``"stable"``) and measure the target's filtered
   tail rank, reciprocal rank and logit (:func:`target_metrics`);
4. report the mean change over targets with a paired bootstrap confidence interval, and a
   paired sign-flip test against each baseline (:func:`summarize`).

Baselines with the same number of deleted edges: ``random`` training edges, ``random_1hop``
(random edges incident to the target's head or tail) and ``similarity`` (the training edges
whose hidden vector f(h, r) is closest in cosine to the target's, at the last checkpoint:
AttributionAttack's "instance similarity", Bhardwaj et al. 2021, section 3.2).

Per-target deletion (``group_size=1``) is the clean protocol: one retraining per (method, k,
target). ``group_size=g`` deletes the union of the edges of g targets in one retraining, which
saves a factor g but lets the deletions of one target disturb another.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any, Literal

import torch
from torch import Tensor

from kgif.data.graph import KnowledgeGraph
from kgif.data.validate import check_ids, check_triples, model_bounds
from kgif.evaluation.ranks import filtered_ranks
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint, load_checkpoints
from kgif.model.conve import ConvEConfig, hidden, score_hrt
from kgif.training.loop import TrainingConfig, train

__all__ = ["BASELINES", "METHODS", "PROTOCOLS", "Attribution", "FaithfulnessResult", "bootstrap_ci",
           "delete_edges", "retrain", "run_faithfulness", "select_edges", "select_targets",
           "sign_flip_test", "summarize", "target_metrics"]

logger = logging.getLogger(__name__)

#: Per-target quantities measured before and after deletion.
QUANTITIES = ("rank", "rr", "logit")


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Attribution:
    """An attribution method: which k training edges it names for a target.

    Attributes:
        name: the method's name in results.
        kind: ``"tracin"``, ``"random"``, ``"random_1hop"``, ``"similarity"`` or
            ``"tracin_margin"`` (the Kelpie study only: :mod:`kgif.studies.kelpie`).
        objective: TracIn objective on both sides (``"score"``, ``"pointwise_bce"``,
            ``"bce_1n"``).
        checkpoints: ``"all"`` (TracInCP over all checkpoints) or ``"last"``.
        parameters: TracIn parameter subset (None: all; ``"embeddings"``, ``"fc"``, ...).
        normalize: ``TracIn(normalize=...)``: None, ``"cosine"`` or ``"relatif"``.
        side: ``"proponents"`` (largest scores) or ``"opponents"`` (smallest).
    """

    name: str
    kind: Literal["tracin", "random", "random_1hop", "similarity", "tracin_margin"] = "tracin"
    objective: str = "score"
    checkpoints: Literal["all", "last"] = "all"
    parameters: str | None = None
    normalize: str | None = None
    side: Literal["proponents", "opponents"] = "proponents"


#: Methods by name; ``tracin`` is kgif's default (score objective, all checkpoints, all
#: parameters, no normalisation).
METHODS: dict[str, Attribution] = {m.name: m for m in (
    Attribution("tracin"),
    Attribution("tracin_opponents", side="opponents"),
    Attribution("random", kind="random"),
    Attribution("random_1hop", kind="random_1hop"),
    Attribution("similarity", kind="similarity"),
    Attribution("tracin_pointwise_bce", objective="pointwise_bce"),
    Attribution("tracin_bce_1n", objective="bce_1n"),
    Attribution("tracin_last", checkpoints="last"),
    Attribution("tracin_embeddings", parameters="embeddings"),
    Attribution("tracin_fc", parameters="fc"),
    Attribution("tracin_cosine", normalize="cosine"),
    Attribution("tracin_relatif", normalize="relatif"),
    Attribution("tracin_embeddings_opponents", parameters="embeddings", side="opponents"),
    Attribution("tracin_cosine_opponents", normalize="cosine", side="opponents"),
    Attribution("tracin_relatif_opponents", normalize="relatif", side="opponents"),
)}

#: The baselines every method is tested against.
BASELINES = ("random", "random_1hop", "similarity")


def _generator(seed: int, j: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * seed + j)


def _tracin_edges(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                  targets: Tensor, k: int, seed: int) -> Tensor:
    chosen = list(ckpts) if method.checkpoints == "all" else [ckpts[-1]]
    tracin = TracIn(chosen, train, train_objective=method.objective,
                    test_objective=method.objective, parameters=method.parameters,
                    normalize=method.normalize, show_progress=False)
    props, opps = tracin.top_influences(targets, k)
    return (props if method.side == "proponents" else opps).indices.cpu()


def _random_edges(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                  targets: Tensor, k: int, seed: int) -> Tensor:
    return torch.stack([torch.randperm(len(train), generator=_generator(seed, j))[:k]
                        for j in range(len(targets))])


def _random_1hop_edges(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                       targets: Tensor, k: int, seed: int) -> Tensor:
    out = torch.full((len(targets), k), -1, dtype=torch.long)
    for j, (h, _, t) in enumerate(targets.tolist()):
        ends = torch.tensor([h, t])
        rows = torch.nonzero(torch.isin(train[:, 0], ends) | torch.isin(train[:, 2], ends))[:, 0]
        pick = rows[torch.randperm(len(rows), generator=_generator(seed, j))[:k]]
        out[j, : len(pick)] = pick
    return out


def _similarity_edges(method: Attribution, ckpts: Sequence[Checkpoint], train: Tensor,
                      targets: Tensor, k: int, seed: int) -> Tensor:
    last = ckpts[-1]
    with torch.no_grad():
        f_train, _ = hidden(last.params, last.buffers, train[:, 0], 2 * train[:, 1], last.config)
        f_test, _ = hidden(last.params, last.buffers, targets[:, 0], 2 * targets[:, 1],
                           last.config)
    sim = torch.nn.functional.normalize(f_test, dim=1) @ \
        torch.nn.functional.normalize(f_train, dim=1).T  # (T, n) cosine
    return sim.argsort(dim=1, descending=True, stable=True)[:, :k].cpu()


_SELECTORS: dict[str, Callable[..., Tensor]] = {
    "tracin": _tracin_edges, "random": _random_edges, "random_1hop": _random_1hop_edges,
    "similarity": _similarity_edges,
}


def select_edges(method: Attribution | str, checkpoints: Sequence[Checkpoint], train: Tensor,
                 targets: Tensor, k: int, seed: int = 0) -> Tensor:
    """The k training edges a method names for each target.

    Args:
        method: an :class:`Attribution` or a name of :data:`METHODS`.
        checkpoints: the original run's checkpoints (TracInCP weights as stored).
        train: (n, 3) int64 training edges (base relation ids).
        targets: (T, 3) int64 target test triples.
        k: edges per target (>= 1).
        seed: seed of the random baselines (target j uses its own generator).

    Returns:
        (T, k) int64 rows of ``train``; -1 pads where fewer than k edges exist (e.g. fewer
        than k edges incident to a target).

    Raises:
        ValueError: on an unknown method, ``k < 1``, or ``train``/``targets`` that are not
            ``(n, 3)`` integer ids in range of the model (:func:`kgif.data.validate.check_triples`).
    """
    method = METHODS[method] if isinstance(method, str) and method in METHODS else method
    if not isinstance(method, Attribution):
        raise ValueError(f"select_edges: unknown method {method!r}; known: {sorted(METHODS)}")
    if k < 1:
        raise ValueError(f"select_edges: k={k} must be >= 1")
    # the random baselines take no checkpoints: then ids are checked for shape and dtype only
    n_ent, n_rel = (model_bounds(checkpoints[-1].params, checkpoints[-1].config.reciprocal)
                    if checkpoints else (None, None))
    train = check_triples(train, "select_edges", "train", num_entities=n_ent,
                          num_relations=n_rel, device="cpu")
    targets = check_triples(targets, "select_edges", "targets", num_entities=n_ent,
                            num_relations=n_rel, device="cpu")
    return _SELECTORS[method.kind](method, checkpoints, train, targets, k, seed)


# --------------------------------------------------------------------------- deletion


def delete_edges(kg: KnowledgeGraph, rows: Tensor | Sequence[int]) -> KnowledgeGraph:
    """``kg`` with the training edges at ``rows`` removed (every copy of each triple).

    Training uses reciprocal relations (:func:`kgif.data.graph.with_reciprocals`), so a removed
    edge loses both directions: (h, 2r, t) and (t, 2r + 1, h). Validation and test splits and
    the id maps are unchanged. Entries -1 of ``rows`` (padding) are ignored.

    Args:
        kg: the graph.
        rows: (m,) int64 rows of ``kg.training`` (any order, repeats allowed).

    Returns:
        A new :class:`KnowledgeGraph`.

    Raises:
        ValueError: on a row outside [-1, n).
    """
    rows = check_ids(rows, "delete_edges", "rows")
    n = len(kg.training)
    if len(rows) and (int(rows.min()) < -1 or int(rows.max()) >= n):
        raise ValueError(f"delete_edges: rows must lie in [0, {n}) (or -1 for padding); got "
                         f"min {int(rows.min())}, max {int(rows.max())}")
    rows = rows[rows >= 0]
    code = _encode(kg.training, kg)
    drop = torch.isin(code, code[rows])
    return replace(kg, training=kg.training[~drop])


def _encode(triples: Tensor, kg: KnowledgeGraph) -> Tensor:
    """(n,) int64 unique code of each (h, r, t)."""
    n_ent, n_rel = kg.num_entities, kg.num_relations
    return (triples[:, 0] * n_rel + triples[:, 1]) * n_ent + triples[:, 2]


#: Retraining protocols: ``"stable"`` keeps every row of the original run in its place
#: (:func:`kgif.training.loop.train` ``keep_rows_of``), ``"reshuffle"`` retrains on the reduced
#: graph as a new run would.
PROTOCOLS = ("stable", "reshuffle")


def retrain(kg: KnowledgeGraph, rows: Tensor | Sequence[int], config: ConvEConfig,
            training_config: TrainingConfig, protocol: str = "stable") -> Checkpoint:
    """Train from scratch on ``kg`` without the edges at ``rows``; the final model.

    Same seed and configuration as the original run, no checkpoint files, no validation
    (``training_config`` is used as given; pass ``eval_every=0`` for the protocol).

    Args:
        kg, rows: the original graph and the rows of ``kg.training`` to delete
            (:func:`delete_edges`).
        config, training_config: the original run's configuration.
        protocol: ``"stable"`` (default): the retraining visits the original run's (h, r)
            rows in the original order and batches; a row whose last label was deleted keeps
            its slot but adds no loss, so the deletion is the only difference between the two
            runs (the counterfactual TracIn approximates: the same training trajectory
            without the deleted edges' gradient steps). ``"reshuffle"``: a plain new run on
            the reduced graph; when a deletion empties a row, the row ids change and the
            shuffled order of every epoch with them, which adds retraining noise of its own.

    Raises:
        ValueError: on an unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"retrain: protocol={protocol!r}; use one of {PROTOCOLS}")
    keep = kg.training if protocol == "stable" else None
    return train(delete_edges(kg, rows), config, training_config, show_progress=False,
                 keep_rows_of=keep).final


# --------------------------------------------------------------------------- measurement


def target_metrics(ckpt: Checkpoint, targets: Tensor, filter_triples: Tensor
                   ) -> dict[str, Tensor]:
    """Filtered tail rank, reciprocal rank and logit of each target under ``ckpt``.

    Args:
        ckpt: a trained model.
        targets: (T, 3) int64 test triples (base relation ids), explained as tail prediction.
        filter_triples: (m, 3) int64 known triples filtered out of the ranking (the original
            graph's train + valid + test: a deleted edge is still a true fact).

    Returns:
        ``{"rank": (T,), "rr": (T,), "logit": (T,)}`` float64; ``rank`` is the realistic
        filtered rank (mean of optimistic and pessimistic, as PyKEEN), ``rr = 1 / rank``.
    """
    n_ent, n_rel = model_bounds(ckpt.params, ckpt.config.reciprocal)
    targets = check_triples(targets, "target_metrics", "targets", num_entities=n_ent,
                            num_relations=n_rel, device="cpu")
    opt, pes = filtered_ranks(ckpt.params, ckpt.buffers, ckpt.config, targets, filter_triples,
                              sides=("tail",))["tail"]
    rank = 0.5 * (opt.double() + pes.double())
    examples = torch.stack([targets[:, 0], 2 * targets[:, 1], targets[:, 2]], 1)
    with torch.no_grad():
        logit = score_hrt(ckpt.params, ckpt.buffers, examples, ckpt.config).double()
    return {"rank": rank, "rr": rank.reciprocal(), "logit": logit}


def select_targets(ckpt: Checkpoint, kg: KnowledgeGraph, n: int, max_rank: float = 3.0,
                   seed: int = 0) -> Tensor:
    """Up to ``n`` test triples the model ranks well: realistic filtered tail rank <=
    ``max_rank``, drawn in a seeded random order.

    Returns:
        (T, 3) int64 test triples, T <= n.

    Raises:
        ValueError: when no test triple qualifies (names the best rank reached).
    """
    ranks = target_metrics(ckpt, kg.testing, kg.all_triples())["rank"]
    good = torch.nonzero(ranks <= max_rank)[:, 0]
    if len(good) == 0:
        raise ValueError(f"select_targets: no test triple has filtered tail rank <= {max_rank}; "
                         f"the best is {float(ranks.min())}")
    order = torch.randperm(len(good), generator=torch.Generator().manual_seed(seed))
    return kg.testing[good[order[:n]].sort().values]


# --------------------------------------------------------------------------- statistics


def bootstrap_ci(values: Tensor, n_boot: int = 2000, level: float = 0.95, seed: int = 0
                 ) -> tuple[float, float, float]:
    """Mean and percentile bootstrap confidence interval of the mean (Efron & Tibshirani 1993,
    ch. 13). For a paired comparison pass the per-target differences.

    Args:
        values: (T,) float values, one per target.
        n_boot: resamples.
        level: two-sided coverage in (0, 1).

    Returns:
        ``(mean, low, high)`` floats.

    Raises:
        ValueError: on no values, non-finite values or a bad level.
    """
    values = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if len(values) == 0 or not bool(torch.isfinite(values).all()):
        raise ValueError(f"bootstrap_ci: need finite values, got {values.tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level={level} must be in (0, 1)")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(values), (n_boot, len(values)), generator=gen)
    means = values[idx].mean(1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(means, q).tolist()
    return float(values.mean()), low, high


def sign_flip_test(differences: Tensor, n_perm: int = 20000, seed: int = 0) -> float:
    """Two-sided paired randomisation (sign-flip) test of mean difference 0.

    p = P(|mean(s * d)| >= |mean(d)|) over independent random signs s (Fisher 1935; the
    paired permutation test): exact enumeration of all 2^T sign vectors for T <= 16, else
    Monte Carlo with ``n_perm`` draws and the (1 + hits) / (1 + n_perm) correction.

    Args:
        differences: (T,) per-target differences between two methods.

    Returns:
        The p-value in (0, 1].

    Raises:
        ValueError: on no values or non-finite values.
    """
    d = torch.as_tensor(differences, dtype=torch.float64).reshape(-1)
    if len(d) == 0 or not bool(torch.isfinite(d).all()):
        raise ValueError(f"sign_flip_test: need finite differences, got {d.tolist()}")
    observed = d.mean().abs() * (1 - 1e-12)  # ties with the observed value count as hits
    if len(d) <= 16:
        codes = torch.arange(2 ** len(d))[:, None]
        signs = 1.0 - 2.0 * ((codes >> torch.arange(len(d))) & 1).double()  # (2^T, T)
        return float(((signs * d).mean(1).abs() >= observed).double().mean())
    gen = torch.Generator().manual_seed(seed)
    signs = 1.0 - 2.0 * torch.randint(2, (n_perm, len(d)), generator=gen).double()
    hits = int(((signs * d).mean(1).abs() >= observed).sum())
    return (1 + hits) / (1 + n_perm)


# --------------------------------------------------------------------------- the run


@dataclass
class FaithfulnessResult:
    """What :func:`run_faithfulness` returns.

    Attributes:
        targets: (T, 3) target test triples.
        before: :func:`target_metrics` of the original model.
        after: ``{(method, k): {quantity: (T,) float64}}`` after deletion and retraining.
        deleted: ``{(method, k): (T, k) int64}`` the deleted rows per target (-1 padding).
        group_size: targets per retraining.
        protocol: the retraining protocol (:data:`PROTOCOLS`).
        retrains: retrainings run.
        seconds: wall-clock seconds of the whole run.
        test_mrr: the original model's filtered tail MRR (realistic) on the whole test split.
    """

    targets: Tensor
    before: dict[str, Tensor]
    after: dict[tuple[str, int], dict[str, Tensor]] = field(default_factory=dict)
    deleted: dict[tuple[str, int], Tensor] = field(default_factory=dict)
    group_size: int = 1
    protocol: str = "stable"
    retrains: int = 0
    seconds: float = 0.0
    test_mrr: float = math.nan

    def changes(self, method: str, k: int, quantity: str) -> Tensor:
        """(T,) after - before of one quantity."""
        return self.after[(method, k)][quantity] - self.before[quantity]


_WORKER: dict = {}


#: What every worker shares: the arguments of :func:`_init_worker` before ``threads``
#: (kg, config, training_config, targets, filter_triples, protocol).
_Shared = tuple[Any, Any, Any, Any, Any, Any]


def _init_worker(kg, config, training_config, targets, filter_triples, protocol, threads
                 ) -> None:
    if threads:
        torch.set_num_threads(threads)
    _WORKER.update(kg=kg, config=config, tc=training_config, targets=targets,
                   filter=filter_triples, protocol=protocol)


def _job(args: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    rows, members = args
    w = _WORKER
    ckpt = retrain(w["kg"], rows, w["config"], w["tc"], w["protocol"])
    return target_metrics(ckpt, w["targets"][members], w["filter"])


def _groups(n: int, size: int) -> list[Tensor]:
    return list(torch.arange(n).split(size))


def _check_study(kg: KnowledgeGraph, group_size: int, workers: int, ks: Sequence[int],
                 targets: Tensor | None) -> None:
    """Refuse settings of :func:`run_faithfulness` before any training starts."""
    for name, value in (("group_size", group_size), ("workers", workers), *(("k", k) for k in ks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"run_faithfulness: {name}={value!r}; expected an integer >= 1")
    n_train = len(kg.training)
    too_big = [k for k in ks if k >= n_train]
    if too_big:
        raise ValueError(f"run_faithfulness: k={too_big[0]} edges per target but "
                         f"{kg.name or 'the graph'} has {n_train} training triples; expected k "
                         f"< {n_train} (a deletion must leave training triples)")
    if targets is None and len(kg.testing) == 0:
        raise ValueError(f"run_faithfulness: {kg.name or 'the graph'} has no test split, where "
                         "the targets come from; expected a dataset with test triples or "
                         "explicit targets")
    if targets is not None:
        check_triples(targets, "run_faithfulness", "targets", num_entities=kg.num_entities,
                      num_relations=kg.num_relations)


def run_faithfulness(kg: KnowledgeGraph, config: ConvEConfig, training_config: TrainingConfig,
                     *, methods: Sequence[str] = tuple(METHODS), ks: Sequence[int] = (10,),
                     n_targets: int = 16, max_rank: float = 3.0, group_size: int = 1,
                     protocol: str = "stable", workers: int = 1, seed: int = 0,
                     checkpoints: Sequence[Checkpoint] | None = None,
                     targets: Tensor | None = None) -> FaithfulnessResult:
    """Deletion-retraining faithfulness of attribution methods (module docstring).

    Args:
        kg: the graph (its test split supplies the targets).
        config, training_config: the original run's configuration; every retraining uses it
            unchanged (same seed). Use ``checkpoint_every`` to give TracInCP several
            checkpoints, ``eval_every=0`` to skip validation.
        methods: names of :data:`METHODS`.
        ks: numbers of deleted edges per target.
        n_targets, max_rank: :func:`select_targets`.
        group_size: targets whose edges are deleted together in one retraining (1: clean).
        protocol: how to retrain (:func:`retrain`): ``"stable"`` (default; the original
            run's rows, order and batches, so only the deletion differs) or ``"reshuffle"``.
        workers: parallel retraining processes (each with one thread); 1 runs inline.
        seed: seed of target selection and the random baselines.
        checkpoints: the original run's checkpoints (default: trained here into a temporary
            folder, under the retrainings' thread count); the last must be the final model,
            and a retraining with nothing deleted must reproduce it bit for bit (checked).
        targets: (T, 3) targets (default: :func:`select_targets`).

    Returns:
        :class:`FaithfulnessResult`.

    Raises:
        ValueError: on an unknown method or protocol, k < 1 or k >= the number of training
            triples, group_size < 1 or workers < 1, no test split (without ``targets``), or
            ``targets`` that fail :func:`kgif.data.validate.check_triples`; all checked before
            any training.
        RuntimeError: when a retraining with nothing deleted does not reproduce the original
            model (different settings, thread counts or nondeterministic kernels).
    """
    import time

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"run_faithfulness: unknown methods {unknown}; known: {list(METHODS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"run_faithfulness: protocol={protocol!r}; use one of {PROTOCOLS}")
    _check_study(kg, group_size, workers, ks, targets)
    start = time.perf_counter()
    filter_triples = kg.all_triples()
    shared = (kg, config, training_config, targets, filter_triples, protocol)
    if checkpoints is None:
        checkpoints = _train_original(kg, config, training_config, workers)
    _check_reproducible(checkpoints[-1], shared, workers)
    if targets is None:
        targets = select_targets(checkpoints[-1], kg, n_targets, max_rank, seed)
    result = FaithfulnessResult(targets, target_metrics(checkpoints[-1], targets,
                                                        filter_triples), group_size=group_size,
                                protocol=protocol)
    result.test_mrr = float(target_metrics(checkpoints[-1], kg.testing, filter_triples)["rr"]
                            .mean())
    jobs, keys = [], []
    for method in methods:
        for k in ks:
            chosen = select_edges(method, checkpoints, kg.training, targets, k, seed)
            result.deleted[(method, k)] = chosen
            for members in _groups(len(targets), group_size):
                jobs.append((chosen[members].reshape(-1), members))
                keys.append((method, k, members))
    logger.info("faithfulness: %d retrainings of %d targets", len(jobs), len(targets))
    outputs = _map(jobs, workers, (kg, config, training_config, targets, filter_triples,
                                   protocol))
    for (method, k, members), out in zip(keys, outputs, strict=True):
        slot = result.after.setdefault((method, k), {q: torch.full((len(targets),), math.nan,
                                                                   dtype=torch.float64)
                                                     for q in QUANTITIES})
        for q in QUANTITIES:
            slot[q][members] = out[q]
    result.retrains = len(jobs)
    result.seconds = time.perf_counter() - start
    return result


def _map(jobs: list, workers: int, shared: _Shared, job: Callable | None = None) -> list:
    """``job`` (default :func:`_job`) over ``jobs``, inline or in ``workers`` one-thread
    processes that share ``shared`` (:func:`_init_worker`)."""
    job = job or _job
    if workers == 1:
        _init_worker(*shared, threads=0)
        return [job(j) for j in jobs]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(*shared, 1)) as pool:
        return list(pool.map(job, jobs))


def _train_original(kg: KnowledgeGraph, config: ConvEConfig, tc: TrainingConfig,
                    workers: int = 1) -> list[Checkpoint]:
    """The original run, under the thread count of the retrainings (one thread each when
    ``workers > 1``): CPU kernels give bit-identical results only at equal thread counts."""
    threads = torch.get_num_threads()
    if workers > 1:
        torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="kgif-faithfulness-") as tmp:
            train(kg, config, tc, output_dir=tmp, show_progress=False)
            return load_checkpoints(f"{tmp}/checkpoints")
    finally:
        torch.set_num_threads(threads)


def _null_job(_: object) -> dict[str, Tensor]:
    """The final parameters of a retraining with nothing deleted."""
    w = _WORKER
    return retrain(w["kg"], [], w["config"], w["tc"], w["protocol"]).params


def _check_reproducible(original: Checkpoint, shared: tuple, workers: int) -> None:
    """Refuse to go on when a retraining with nothing deleted, run as every retraining is,
    does not reproduce the original model bit for bit: every change measured afterwards
    would mix the deletion with that difference (thread counts, nondeterministic kernels).

    Raises:
        RuntimeError: naming the first parameter that differs.
    """
    again, = _map([None], workers, shared, _null_job)
    for name, value in original.params.items():
        if not torch.equal(again[name], value):
            raise RuntimeError(
                f"faithfulness: retraining with nothing deleted does not reproduce the original "
                f"model (parameter {name!r} differs, max |diff| "
                f"{float((again[name] - value).abs().max()):.3g}); the measured changes would "
                "not be caused by the deletions alone. Train the original under the "
                "retrainings' settings (workers, threads, device) or pass its checkpoints")


# --------------------------------------------------------------------------- summary


def summarize(result: FaithfulnessResult, baselines: Sequence[str] = BASELINES,
              n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """One row per (method, k, quantity): the mean change over targets with its bootstrap
    interval, and per baseline present the paired mean difference, its interval and the
    sign-flip p-value.

    Returns:
        Rows ``{"method", "k", "quantity", "mean", "low", "high", "vs": {baseline: {"diff",
        "low", "high", "p"}}}``; for ``rr`` the mean change is the change of the targets' MRR.
    """
    rows = []
    for (method, k) in result.after:
        for q in QUANTITIES:
            change = result.changes(method, k, q)
            mean, low, high = bootstrap_ci(change, n_boot, seed=seed)
            versus = {}
            for base in baselines:
                if base == method or (base, k) not in result.after:
                    continue
                diff = change - result.changes(base, k, q)
                d_mean, d_low, d_high = bootstrap_ci(diff, n_boot, seed=seed)
                versus[base] = {"diff": d_mean, "low": d_low, "high": d_high,
                                "p": sign_flip_test(diff, seed=seed)}
            rows.append({"method": method, "k": k, "quantity": q, "mean": mean, "low": low,
                         "high": high, "vs": versus})
    return rows


def _cell(mean: float, low: float, high: float) -> str:
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _ratio(value: float, reference: float) -> str:
    if math.isnan(reference):
        return "n/a"
    if reference == 0:
        return "n/a (random 0)" if value == 0 else "inf (random 0)"
    return f"{value / reference:.1f}x"


def markdown_table(rows: list[dict], k: int) -> str:
    """A Markdown table of :func:`summarize` rows for one k: per method the change of the
    targets' MRR and mean logit with 95% bootstrap intervals, the mean change of the filtered
    rank, the ratio of the MRR change to the ``random`` baseline's, and the sign-flip p-value of
    the MRR and logit differences against each baseline."""
    by = {(r["method"], r["quantity"]): r for r in rows if r["k"] == k}
    methods = list(dict.fromkeys(m for m, _ in by))
    bases = [b for b in BASELINES if (b, "rr") in by]
    head = ["method", "ΔMRR [95% CI]", "Δlogit [95% CI]", "Δrank", "ΔMRR / random"]
    head += [f"p vs {b} (MRR / logit)" for b in bases]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    random_mrr = by[("random", "rr")]["mean"] if ("random", "rr") in by else math.nan
    for m in methods:
        rr, logit, rank = by[(m, "rr")], by[(m, "logit")], by[(m, "rank")]
        cells = [m, _cell(rr["mean"], rr["low"], rr["high"]),
                 _cell(logit["mean"], logit["low"], logit["high"]), f"{rank['mean']:+.2f}",
                 _ratio(rr["mean"], random_mrr)]
        for b in bases:
            cells.append("—" if b not in rr["vs"] else
                         f"{rr['vs'][b]['p']:.3g} / {logit['vs'][b]['p']:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def result_json(result: FaithfulnessResult, rows: list[dict]) -> dict:
    """A JSON-ready dict of a run: targets, per-target before/after values, deleted rows,
    the summary rows."""
    return {
        "targets": result.targets.tolist(),
        "before": {q: v.tolist() for q, v in result.before.items()},
        "after": {f"{m}@{k}": {q: v.tolist() for q, v in d.items()}
                  for (m, k), d in result.after.items()},
        "deleted": {f"{m}@{k}": v.tolist() for (m, k), v in result.deleted.items()},
        "group_size": result.group_size, "protocol": result.protocol,
        "retrains": result.retrains,
        "seconds": result.seconds, "test_mrr": result.test_mrr, "summary": rows,
    }

"""The DrugMechDB benchmark end to end: score passes, rankings, metrics, report.

:func:`run_drugmechdb` takes a trained run's checkpoints and the DrugMechDB pairs
(:func:`kgif.data.drugmechdb.read_drugmechdb`), computes the attribution scores every ranking of
:data:`kgif.studies.drugmechdb.EDGE_RANKINGS` needs, ranks all training edges for every pair
and summarises the edge- and path-level metrics with bootstrap intervals and paired tests
(:func:`kgif.studies.drugmechdb.summarize`). ``python -m kgif drugmechdb`` is its command line
(:mod:`kgif.cli.drugmechdb`); docs/hetionet.md has the protocol and the measured table.

**Local candidates.** TracIn-family scores are computed on each pair's local candidates only:
the 1-hop candidates (:func:`kgif.influence.candidates.candidate_edges_batch`), every edge at
the head or the tail, and every edge of the head-tail paths without direct edges
(:func:`kgif.explanation.mechanisms.nondirect_paths`). Rankings that use attribution scores put
those rows first; the other rows follow in row order.

**Cache.** Every score pass is cached in ``cache_dir`` as ``<name>.pt`` with a key (the
checkpoint epoch, the number of pairs and of local rows): TracInCP as one term per checkpoint
(Pruthi et al., NeurIPS 2020, eq. 3: the sum over checkpoints), so the terms of a run's early
checkpoints can be computed while it still trains; cosine TracIn, embeddings-only TracIn and the
self-influences of RelatIF on request (``methods``). The pairs' paths and local rows are cached
as ``local.pt``. Cache files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from kgif._environment import cpu_model
from kgif.data.drugmechdb import Mechanism
from kgif.data.graph import KnowledgeGraph
from kgif.explanation.mechanisms import direct_relations, nondirect_paths
from kgif.explanation.paths import HeadTailPaths
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import hidden
from kgif.studies.drugmechdb import EDGE_RANKINGS, PATH_TOP, SOURCES, Pair, edge_report, summarize

logger = logging.getLogger(__name__)

#: Proponents per pair counted by :func:`top_relations` (the length of a default explanation).
TOP_RELATIONS_K = 10

__all__ = ["EDGE_METRICS", "LABELS", "PATH_METRICS", "SCORE_PASSES", "TOP_RELATIONS_K", "markdown",
           "run_drugmechdb", "top_relations"]

#: Edge-level metric keys of the report (:func:`kgif.studies.groundtruth.explanation_metrics`).
EDGE_METRICS = ("rr", "ap", "hits@10", "hits@100", "recall@100")
#: Path-level metric keys (:func:`kgif.studies.drugmechdb.path_metrics`).
PATH_METRICS = ("path_rr", f"path_hits@{PATH_TOP}")
#: Optional score passes (``methods``) beside the default TracInCP.
SCORE_PASSES = ("cosine", "relatif", "embeddings")

#: Display label of each ranking in the report.
LABELS = {
    "tracin": "TracIn, all edges (kgif default)",
    "tracin_per_visit": "TracIn per visit (oversampled relations divided by their repeats)",
    "tracin_khop": "TracIn, 1-hop candidates first",
    "tracin_direct_apart": "TracIn, direct relations set apart",
    "tracin_direct_apart_khop": "TracIn, 1-hop non-direct candidates first",
    "mechanism_sum": "mechanism view, paths by sum",
    "mechanism_mean": "mechanism view, paths by mean",
    "mechanism_min": "mechanism view, paths by min",
    "mechanism_geomean": "mechanism view, paths by geometric mean",
    "mechanism_total_sum": "mechanism view, edges by summed positive path sums",
    "mechanism_total_mean": "mechanism view, edges by summed positive path means",
    "mechanism_total_min": "mechanism view, edges by summed positive path minima",
    "mechanism_total_geomean": "mechanism view, edges by summed path geometric means",
    "mechanism_sum_relatif": "mechanism view (RelatIF scores), paths by sum",
    "mechanism_sum_embeddings": "mechanism view (embeddings-only TracIn), paths by sum",
    "cosine": "cosine TracIn, all edges",
    "relatif": "RelatIF, all edges",
    "embeddings": "TracIn on the embeddings only, all edges",
    "random": "baseline: random order",
    "khop_random": "baseline: 1-hop filter, random order",
    "degree": "baseline: 1-hop filter, endpoint degree",
    "path_count": "baseline: path count (edges on most head-tail paths first)",
    "similarity": "baseline: embedding similarity (hidden-vector cosine)",
    "path_count_tracin": "mechanism view, edges by path count, ties by TracIn",
    "supported_path_count": "mechanism view, edges by count of all-proponent paths",
    "fusion_path_count_tracin": "reciprocal rank fusion of path count and TracIn (1-hop "
                                "non-direct first)",
}


def _cached(cache: Path, name: str, key: list, compute: Callable[[], Tensor],
            log: Callable[[str], None]) -> Tensor:
    path = cache / f"{name}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        if saved["key"] == key:
            log(f"{name}: cached {path}")
            return saved["scores"]
    start = time.perf_counter()
    scores = compute()
    seconds = time.perf_counter() - start
    torch.save({"key": key, "scores": scores, "seconds": seconds}, path)
    log(f"{name}: {seconds:.0f} s")
    return scores


def _similarity(ckpt: Checkpoint, train: Tensor, test: Tensor) -> Tensor:
    """(T, n) cosine of the hidden vectors f(h, r) of the test and training edges (last
    checkpoint; the ``similarity`` baseline of :mod:`kgif.studies.faithfulness`)."""
    out = []
    with torch.no_grad():
        f_test, _ = hidden(ckpt.params, ckpt.buffers, test[:, 0], 2 * test[:, 1], ckpt.config)
        f_test = torch.nn.functional.normalize(f_test, dim=1)
        for start in range(0, len(train), 65536):
            rows = train[start:start + 65536]
            f, _ = hidden(ckpt.params, ckpt.buffers, rows[:, 0], 2 * rows[:, 1], ckpt.config)
            out.append(f_test @ torch.nn.functional.normalize(f, dim=1).T)
    return torch.cat(out, 1)


def _tracin_by_checkpoint(kg: KnowledgeGraph, ckpts: Sequence[Checkpoint], test: Tensor,
                          union: Tensor, cache: Path, batch_size: int,
                          log: Callable[[str], None]) -> Tensor:
    """(T, U) TracInCP over the ``union`` rows as the sum of its per-checkpoint terms."""
    total = None
    for ckpt in ckpts:
        engine = TracIn([ckpt], kg.training[union], batch_size=batch_size, show_progress=False)

        def compute(engine: TracIn = engine) -> Tensor:
            return engine.influence(test)

        part = _cached(cache, f"tracin_epoch{ckpt.epoch:04d}",
                       [ckpt.epoch, len(test), len(union)], compute, log)
        total = part.clone() if total is None else total + part
    assert total is not None  # at least one checkpoint (checked by the caller)
    return total


def _repeats(ckpt: Checkpoint, kg: KnowledgeGraph) -> Tensor:
    """(n,) visits per epoch of each training edge's relation under the checkpoints' run."""
    repeats = ckpt.relation_repeats  # None: every relation visited once per epoch
    per_relation = torch.ones(kg.num_relations, dtype=torch.long) if repeats is None else \
        torch.tensor(repeats, dtype=torch.long)
    return per_relation[kg.training[:, 1]]


def _scores(kg: KnowledgeGraph, ckpts: Sequence[Checkpoint], test: Tensor, union: Tensor,
            cache: Path, methods: Sequence[str], batch_size: int,
            log: Callable[[str], None]) -> dict[str, Tensor]:
    """name -> (T, n) scores; TracIn-family scores on the ``union`` rows only (0 elsewhere)."""
    key = [[c.epoch for c in ckpts], len(test), len(union)]
    train = kg.training[union]

    def tracin(**kw):
        return TracIn(ckpts, train, batch_size=batch_size, show_progress=False, **kw)

    local = {"tracin": _tracin_by_checkpoint(kg, ckpts, test, union, cache, batch_size, log)}
    if "relatif" in methods:
        self_inf = _cached(cache, "self_influence", key, lambda: tracin().self_influence(), log)
        raw = (self_inf / _repeats(ckpts[0], kg)[union].to(self_inf.dtype)).clamp_min(0).sqrt()
        local["relatif"] = torch.where(raw > 0, local["tracin"] / torch.where(raw > 0, raw, 1.0),
                                       0.0)
    if "cosine" in methods:
        local["cosine"] = _cached(cache, "cosine", key,
                                  lambda: tracin(normalize="cosine").influence(test), log)
    if "embeddings" in methods:
        local["embeddings"] = _cached(cache, "embeddings", key,
                                      lambda: tracin(parameters="embeddings").influence(test),
                                      log)
    out = {}
    for name, values in local.items():
        dense = torch.zeros(len(test), len(kg.training), dtype=values.dtype)
        dense[:, union] = values
        out[name] = dense
    out["similarity"] = _similarity(ckpts[-1], kg.training, test)
    return out


def _local(kg: KnowledgeGraph, mechanisms: Sequence[Mechanism], adj: Adjacency,
           khop: Sequence[Tensor], direct: Sequence[int], max_paths: int
           ) -> tuple[list[HeadTailPaths], list[Tensor]]:
    """Per pair: the head-tail paths without direct edges and the local candidate rows."""
    paths, local = [], []
    train = kg.training
    for j, mechanism in enumerate(mechanisms):
        h, _, t = mechanism.triple
        kept = nondirect_paths(mechanism.triple, adj, train, direct, max_paths=max_paths)
        at_ends = torch.nonzero(torch.isin(train[:, 0], torch.tensor([h, t]))
                                | torch.isin(train[:, 2], torch.tensor([h, t])))[:, 0]
        paths.append(kept)
        local.append(torch.unique(torch.cat([khop[j], kept.edges[kept.edges >= 0], at_ends])))
    return paths, local


def top_relations(kg: KnowledgeGraph, scores: Tensor, local: Sequence[Tensor],
                  k: int = TOP_RELATIONS_K) -> dict[str, int]:
    """Relation label -> how many of the pairs' top-``k`` TracIn proponents have it.

    For each pair ``j`` the ``k`` highest-scoring rows among its local candidates
    ``local[j]`` that have a positive score (proponents; fewer when fewer exist) are counted
    by their relation, summed over pairs: what the default explanation of these pairs shows.

    Args:
        kg: the graph (relation labels).
        scores: (pairs, n_train) float TracInCP scores.
        local: per pair, a 1-D int64 tensor of training row indices.
        k: proponents counted per pair (>= 1).

    Returns:
        ``{label: count}``, most frequent first.

    Raises:
        ValueError: on ``k < 1`` or a ``local`` list whose length is not ``scores``' rows.
    """
    if k < 1 or len(local) != len(scores):
        raise ValueError(f"top_relations: k = {k} (expected >= 1) with {len(local)} local row "
                         f"sets for {len(scores)} score rows (expected equal)")
    counts: dict[str, int] = {}
    for j, rows in enumerate(local):
        values = scores[j, rows]
        order = torch.argsort(values, descending=True, stable=True)[:k]
        for row in rows[order[values[order] > 0]].tolist():
            label = kg.relation_label(int(kg.training[row, 1]))
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def run_drugmechdb(kg: KnowledgeGraph, checkpoints: Sequence[Checkpoint],
                   mechanisms: Sequence[Mechanism], cache_dir: str | os.PathLike, *,
                   methods: Sequence[str] = (), rankings: Sequence[str] | None = None,
                   reference: str = "mechanism_mean", max_paths: int = 2_000_000,
                   batch_size: int = 512, draws: int = 100,
                   log: Callable[[str], None] | None = None) -> dict:
    """The DrugMechDB benchmark of one run (module docstring).

    Args:
        kg: the graph the run was trained on (its training split holds every supporting edge).
        checkpoints: the run's checkpoints (TracInCP over all of them).
        mechanisms: the pairs and their supporting edges (non-empty; all with one relation).
        cache_dir: folder of the score passes and local rows (created).
        methods: extra score passes among :data:`SCORE_PASSES`.
        rankings: names of :data:`~kgif.studies.drugmechdb.EDGE_RANKINGS` to report (None:
            every ranking whose scores exist); ``reference`` is always included.
        reference: the ranking every other one is compared with (paired tests).
        max_paths: head-tail paths kept per pair (more are counted, not kept).
        batch_size: training edges per TracIn batch.
        draws: random orders averaged by the random baselines.
        log: receives one progress line per step (default: this module's logger, INFO).

    Returns:
        A JSON-ready dict: run facts (``n_pairs``, ``n_train``, ``n_union``, ``seconds`` of
        each score pass, device, torch, load), ``overall`` and ``versus`` from
        :func:`~kgif.studies.drugmechdb.summarize`, and ``per_pair`` metrics.

    Raises:
        ValueError: on no checkpoints or pairs, an unknown method, ranking or reference.
    """
    if not checkpoints or not mechanisms:
        raise ValueError(f"run_drugmechdb: {len(checkpoints)} checkpoints and "
                         f"{len(mechanisms)} pairs; both must be non-empty")
    unknown = sorted(set(methods) - set(SCORE_PASSES))
    if unknown:
        raise ValueError(f"run_drugmechdb: methods {unknown} unknown; expected some of "
                         f"{list(SCORE_PASSES)}")
    unknown = sorted((set(rankings or ()) | {reference}) - set(EDGE_RANKINGS))
    if unknown:
        raise ValueError(f"run_drugmechdb: rankings {unknown} unknown; expected some of "
                         f"{list(EDGE_RANKINGS)}")
    start, load_before = time.perf_counter(), os.getloadavg()
    log = log or logger.info
    test = torch.tensor([m.triple for m in mechanisms], dtype=torch.long)
    adj = Adjacency.from_triples(kg.training, kg.num_entities)
    khop = candidate_edges_batch(adj, test, k=1)
    direct = direct_relations(kg, int(test[0, 1]))
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    saved = cache / "local.pt"
    key = [len(mechanisms), max_paths, len(kg.training)]
    stored = torch.load(saved, weights_only=True) if saved.exists() else None
    if stored is not None and stored["key"] == key:
        paths = [HeadTailPaths(*p) for p in stored["paths"]]
        local = stored["local"]
    else:
        paths, local = _local(kg, mechanisms, adj, khop, direct, max_paths)
        torch.save({"key": key, "local": local,
                    "paths": [(p.nodes, p.edges, p.lengths, p.total) for p in paths]}, saved)
    union = torch.unique(torch.cat(local))
    scores = _scores(kg, checkpoints, test, union, cache, methods, batch_size, log)
    seconds = {p.stem: round(torch.load(p, weights_only=True).get("seconds", 0))
               for p in sorted(cache.glob("*.pt")) if p.stem != "local"}
    is_direct = torch.isin(kg.training[:, 1], torch.tensor(direct))
    repeats = _repeats(checkpoints[0], kg).double()
    names = [m for m in EDGE_RANKINGS if (SOURCES[m] is None or SOURCES[m] in scores)
             and (rankings is None or m in rankings or m == reference)]
    per_pair, n_dmdb = [], 0
    for j, mechanism in enumerate(mechanisms):
        in_local = torch.zeros(len(kg.training), dtype=torch.bool)
        in_local[local[j]] = True
        pair = Pair(mechanism, {k: v[j].double() for k, v in scores.items()}, khop[j],
                    is_direct, paths[j], adj.degree, repeats, kg.training, local=in_local)
        report = edge_report(pair, names, draws, seed=j)
        n_dmdb += report["random"][f"path_hits@{PATH_TOP}"] > 0
        h, _, t = mechanism.triple
        per_pair.append({"pair": [kg.entity_name(h), kg.entity_name(t)],
                         "pair_labels": [kg.entity_label(h), kg.entity_label(t)],
                         "supporting": len(mechanism.supporting), "local": len(local[j]),
                         "paths": len(paths[j].lengths), "truncated": paths[j].truncated,
                         **report})
        log(f"[{j + 1}/{len(mechanisms)}] {kg.entity_name(h)} ~ {kg.entity_name(t)}: "
            f"{len(paths[j].lengths)} paths, rr {report[reference]['rr']:.3f}")
    rows = [{k: v for k, v in p.items() if isinstance(v, dict)} for p in per_pair]
    meta = {"epochs": [c.epoch for c in checkpoints],
            "relation_repeats": checkpoints[0].relation_repeats,
            "n_pairs": len(mechanisms), "n_train": len(kg.training), "n_union": len(union),
            "n_supporting": int(sum(len(m.supporting) for m in mechanisms)),
            "n_supporting_local": int(sum(int(torch.isin(m.supporting, u).sum())
                                          for m, u in zip(mechanisms, local, strict=True))),
            "n_with_dmdb_path": int(n_dmdb), "reference": reference,
            "top_relations": {"k": TOP_RELATIONS_K,
                              "counts": top_relations(kg, scores["tracin"], local)},
            "direct_relations": [kg.relation_label(r) for r in direct],
            "seconds": seconds, "total_seconds": time.perf_counter() - start,
            "device": f"{cpu_model()} CPU, {os.cpu_count()} cores, "
                      f"{torch.get_num_threads()} threads",
            "torch": torch.__version__, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    return {**meta, **summarize(rows, reference), "per_pair": per_pair}


def _cell(entry: dict, digits: int = 3) -> str:
    return f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def markdown(result: dict) -> str:
    """The report of :func:`run_drugmechdb` (plus ``command`` and ``checkpoints`` keys when
    present) as Markdown: run facts, the metrics table, the paired table."""
    metrics = EDGE_METRICS + PATH_METRICS
    lines = [f"# DrugMechDB benchmark: {result['n_pairs']} held-out pairs with supporting "
             f"edges ({result['n_supporting']} supporting edges; {result['n_with_dmdb_path']} "
             "pairs have a DrugMechDB head-tail path)", "",
             f"- command: `{result.get('command', '')}`",
             f"- checkpoints: `{result.get('checkpoints', '')}` (epochs {result['epochs']}, "
             f"relation repeats {result['relation_repeats']})",
             f"- {result['device']}, torch {result['torch']}, load average before "
             f"{result['load_before']}, after {result['load_after']}",
             f"- score passes (s, each as recorded when it was computed; cached passes are "
             f"reused): {result['seconds']}; whole run "
             f"{result['total_seconds']:.0f} s",
             f"- {result['n_train']:,} training edges ranked per pair. TracIn-family scores are "
             f"computed on each pair's local candidates only (1-hop candidates, edges at the "
             f"head or tail, edges on head-tail paths; {result['n_union']:,} rows in all, "
             f"holding {result['n_supporting_local']} of the {result['n_supporting']} "
             "supporting edges), which those rankings put first; the other edges follow in "
             "row order",
             *([f"- relations of each pair's {result['top_relations']['k']} highest TracIn "
                f"proponents among its local candidates (the default explanation), summed "
                f"over pairs: " + ", ".join(f"`{label}` {n}" for label, n in
                                            result["top_relations"]["counts"].items())]
               if "top_relations" in result else []),
             f"- paths: head-tail, 2-3 edges, no direct "
             f"({', '.join(result['direct_relations'])}) edge; path metrics count a pair "
             "without a DrugMechDB path as a miss", "",
             "| ranking | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for method, values in result["overall"].items():
        cells = [_cell(values[m]) if m in values else "" for m in metrics]
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    lines += ["", f"Paired over pairs, `{result['reference']}` minus each ranking (95% "
              "bootstrap CI, sign-flip p):", "", "| ranking | " + " | ".join(metrics) + " |",
              "|---|" + "---|" * len(metrics)]
    for method, values in result["versus"].items():
        cells = [f"{values[m]['diff']:+.3f} [{values[m]['low']:+.3f}, {values[m]['high']:+.3f}]"
                 f", p = {values[m]['p']:.2g}" if m in values else "" for m in metrics]
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

"""DrugMechDB benchmark on Hetionet: do kgif's rankings put the curated mechanism edges first?

For the held-out ``TREATS_CtD`` test edges with DrugMechDB supporting edges (56 on the bundled
Hetionet; :func:`kgif.data.drugmechdb.read_drugmechdb`), ranks all training edges by each
method of :data:`kgif.studies.drugmechdb.EDGE_RANKINGS` and reports edge-level MRR, MAP,
Hits@10/100, Recall@100 and path-level top-10 hit rates, with bootstrap intervals and paired
sign-flip tests against the recommended ranking (:mod:`kgif.studies.drugmechdb`).

    python benchmarks/hetionet_drugmechdb.py --checkpoints runs/hetionet/checkpoints \
        --cache-dir runs/hetionet/dmdb-cache --methods cosine relatif embeddings \
        --output benchmarks/results-cpu-drugmechdb.json \
        --markdown benchmarks/results-cpu-drugmechdb.md

Score matrices (T x 765,569) are cached in ``--cache-dir`` (one ``.pt`` per method, with the
checkpoints' epochs), so a rerun adds methods without recomputing the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from kgif._environment import cpu_model
from kgif.data.datasets import load_dataset
from kgif.data.drugmechdb import read_drugmechdb
from kgif.explanation.mechanisms import direct_relations, nondirect_paths
from kgif.explanation.paths import HeadTailPaths
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import check_compatible, load_checkpoints
from kgif.model.conve import hidden
from kgif.studies.drugmechdb import (
    EDGE_RANKINGS,
    PATH_TOP,
    SOURCES,
    Pair,
    edge_report,
    summarize,
)

EDGE_METRICS = ("rr", "ap", "hits@10", "hits@100", "recall@100")
PATH_METRICS = ("path_rr", f"path_hits@{PATH_TOP}")
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


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder of one run")
    parser.add_argument("--dataset", default="hetionet")
    parser.add_argument("--cache-dir", required=True, help="score matrices are cached here")
    parser.add_argument("--methods", nargs="*", default=[],
                        help="extra score passes: cosine, relatif, embeddings")
    parser.add_argument("--limit", type=int, default=None, help="first N covered pairs only")
    parser.add_argument("--max-paths", type=int, default=2_000_000)
    parser.add_argument("--reference", default="mechanism_mean",
                        help="the ranking the paired tests compare everything with")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--only-scores", action="store_true",
                        help="compute and cache the score passes of the checkpoints present, "
                             "then stop")
    parser.add_argument("--rankings", nargs="+", default=None,
                        help="only these rankings of kgif.studies.drugmechdb.EDGE_RANKINGS "
                             "(default: every ranking whose scores exist)")
    parser.add_argument("--output", default=None)
    parser.add_argument("--markdown", default=None)
    return parser.parse_args(argv)


def _cached(cache: Path, name: str, key: list, compute) -> torch.Tensor:
    path = cache / f"{name}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        if saved["key"] == key:
            print(f"{name}: cached {path}", flush=True)
            return saved["scores"]
    start = time.perf_counter()
    scores = compute()
    seconds = time.perf_counter() - start
    torch.save({"key": key, "scores": scores, "seconds": seconds}, path)
    print(f"{name}: {seconds:.0f} s", flush=True)
    return scores


def _similarity(ckpt, train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
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


def _tracin_by_checkpoint(args, kg, ckpts, test, union, cache: Path) -> torch.Tensor:
    """(T, U) TracInCP over the ``union`` rows as the sum of its per-checkpoint terms (Pruthi
    et al. 2020, eq. 3), each computed and cached on its own, so the terms of a run's early
    checkpoints can be computed while it still trains (``--only-scores``)."""
    total = None
    for ckpt in ckpts:
        engine = TracIn([ckpt], kg.training[union], batch_size=args.batch_size,
                        show_progress=False)
        part = _cached(cache, f"tracin_epoch{ckpt.epoch:04d}", [ckpt.epoch, len(test),
                                                                  len(union)],
                       lambda engine=engine: engine.influence(test))
        total = part.clone() if total is None else total + part
    return total


def _scores(args, kg, ckpts, test, union, cache: Path) -> dict:
    """name -> (T, n) scores; TracIn-family scores are computed on the ``union`` rows only
    (0 elsewhere)."""
    epochs = [c.epoch for c in ckpts]
    key = [epochs, len(test), len(union)]
    train = kg.training[union]

    def tracin(**kw):
        return TracIn(ckpts, train, batch_size=args.batch_size, show_progress=False, **kw)

    local = {"tracin": _tracin_by_checkpoint(args, kg, ckpts, test, union, cache)}
    if "relatif" in args.methods:
        self_inf = _cached(cache, "self_influence", key, lambda: tracin().self_influence())
        raw = (self_inf / _repeats(ckpts[0], kg)[union].to(self_inf.dtype)).clamp_min(0).sqrt()
        local["relatif"] = torch.where(raw > 0, local["tracin"] / torch.where(raw > 0, raw, 1.0),
                                       0.0)
    if "cosine" in args.methods:
        local["cosine"] = _cached(cache, "cosine", key,
                                  lambda: tracin(normalize="cosine").influence(test))
    if "embeddings" in args.methods:
        local["embeddings"] = _cached(cache, "embeddings", key,
                                      lambda: tracin(parameters="embeddings").influence(test))
    out = {}
    for name, values in local.items():
        dense = torch.zeros(len(test), len(kg.training), dtype=values.dtype)
        dense[:, union] = values
        out[name] = dense
    out["similarity"] = _similarity(ckpts[-1], kg.training, test)
    return out


def _repeats(ckpt, kg) -> torch.Tensor:
    """(n,) visits per epoch of each training edge's relation under the checkpoints' run."""
    repeats = ckpt.relation_repeats  # None: every relation visited once per epoch
    per_relation = torch.ones(kg.num_relations, dtype=torch.long) if repeats is None else \
        torch.tensor(repeats, dtype=torch.long)
    return per_relation[kg.training[:, 1]]


def _cell(entry: dict, digits: int = 3) -> str:
    return f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def markdown(summary: dict, meta: dict) -> str:
    metrics = EDGE_METRICS + PATH_METRICS
    lines = [f"# DrugMechDB benchmark: {meta['n_pairs']} held-out TREATS_CtD edges of Hetionet "
             f"with supporting edges ({meta['n_supporting']} supporting edges; "
             f"{meta['n_with_dmdb_path']} pairs have a DrugMechDB head-tail path)", "",
             f"- command: `{meta['command']}`",
             f"- checkpoints: `{meta['checkpoints']}` (epochs {meta['epochs']}, relation "
             f"repeats {meta['relation_repeats']})",
             f"- {meta['device']}, torch {meta['torch']}, load average before "
             f"{meta['load_before']}, after {meta['load_after']}",
             f"- score passes (s): {meta['seconds']}; whole script {meta['total_seconds']:.0f} s",
             f"- {meta['n_train']:,} training edges ranked per pair. TracIn-family scores are "
             f"computed on each pair's local candidates only (1-hop candidates, edges at the "
             f"head or tail, edges on head-tail paths; {meta['n_union']:,} rows in all, holding "
             f"{meta['n_supporting_local']} of the {meta['n_supporting']} supporting edges), "
             "which those rankings put first; the other edges follow in row order",
             f"- paths: head-tail, 2-3 edges, no direct ({', '.join(meta['direct_relations'])})"
             " edge; path metrics count a pair without a DrugMechDB path as a miss", "",
             "| ranking | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for method, values in summary["overall"].items():
        cells = [_cell(values[m]) if m in values else "" for m in metrics]
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    lines += ["", f"Paired over pairs, `{meta['reference']}` minus each ranking (95% bootstrap "
              "CI, sign-flip p):", "", "| ranking | " + " | ".join(metrics) + " |",
              "|---|" + "---|" * len(metrics)]
    for method, values in summary["versus"].items():
        cells = [f"{values[m]['diff']:+.3f} [{values[m]['low']:+.3f}, {values[m]['high']:+.3f}]"
                 f", p = {values[m]['p']:.2g}" if m in values else "" for m in metrics]
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _local(kg, mechanisms, adj, khop, direct, max_paths) -> tuple[list, list]:
    """Per pair: the head-tail paths without direct edges and the local candidate rows (1-hop
    candidates, edges at the head or tail, edges on those paths)."""
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


def main(argv=None) -> int:
    args = parse(argv)
    start, load_before = time.perf_counter(), os.getloadavg()
    kg = load_dataset(args.dataset)
    mechanisms = read_drugmechdb(kg)[: args.limit]
    test = torch.tensor([m.triple for m in mechanisms], dtype=torch.long)
    ckpts = load_checkpoints(args.checkpoints)
    check_compatible(ckpts, kg)
    epochs = [c.epoch for c in ckpts]
    adj = Adjacency.from_triples(kg.training, kg.num_entities)
    khop = candidate_edges_batch(adj, test, k=1)
    direct = direct_relations(kg, int(test[0, 1]))
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    saved = cache / "local.pt"
    key = [len(mechanisms), args.max_paths, len(kg.training)]
    if saved.exists() and torch.load(saved, weights_only=True)["key"] == key:
        stored = torch.load(saved, weights_only=True)
        paths = [HeadTailPaths(*p) for p in stored["paths"]]
        local = stored["local"]
    else:
        paths, local = _local(kg, mechanisms, adj, khop, direct, args.max_paths)
        torch.save({"key": key, "local": local,
                    "paths": [(p.nodes, p.edges, p.lengths, p.total) for p in paths]}, saved)
    union = torch.unique(torch.cat(local))
    if args.only_scores:
        _tracin_by_checkpoint(args, kg, ckpts, test, union, cache)
        return 0
    if not (args.output and args.markdown):
        raise SystemExit("hetionet_drugmechdb: --output and --markdown are required")
    scores = _scores(args, kg, ckpts, test, union, cache)
    seconds = {p.stem: round(torch.load(p, weights_only=True).get("seconds", 0))
               for p in sorted(cache.glob("*.pt")) if p.stem != "local"}
    is_direct = torch.isin(kg.training[:, 1], torch.tensor(direct))
    repeats = _repeats(ckpts[0], kg).double()
    methods = [m for m in EDGE_RANKINGS if (SOURCES[m] is None or SOURCES[m] in scores)
               and (args.rankings is None or m in args.rankings or m == args.reference)]
    per_pair, n_dmdb = [], 0
    for j, mechanism in enumerate(mechanisms):
        in_local = torch.zeros(len(kg.training), dtype=torch.bool)
        in_local[local[j]] = True
        pair = Pair(mechanism, {k: v[j].double() for k, v in scores.items()}, khop[j],
                    is_direct, paths[j], adj.degree, repeats, kg.training, local=in_local)
        report = edge_report(pair, methods, args.draws, seed=j)
        n_dmdb += report["random"][f"path_hits@{PATH_TOP}"] > 0
        h, _, t = mechanism.triple
        per_pair.append({"pair": [kg.entity_name(h), kg.entity_name(t)],
                         "supporting": len(mechanism.supporting), "local": len(local[j]),
                         "paths": len(paths[j].lengths), "truncated": paths[j].truncated,
                         **report})
        print(f"[{j + 1}/{len(mechanisms)}] {kg.entity_name(h)} ~ {kg.entity_name(t)}: "
              f"{len(paths[j].lengths)} paths, rr {report[args.reference]['rr']:.3f}",
              flush=True)
    rows = [{k: v for k, v in p.items() if isinstance(v, dict)} for p in per_pair]
    summary = summarize(rows, args.reference)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
            "checkpoints": str(args.checkpoints), "epochs": epochs,
            "relation_repeats": ckpts[0].relation_repeats,
            "n_pairs": len(mechanisms), "n_train": len(kg.training), "n_union": len(union),
            "n_supporting": int(sum(len(m.supporting) for m in mechanisms)),
            "n_supporting_local": int(sum(int(torch.isin(m.supporting, u).sum())
                                          for m, u in zip(mechanisms, local, strict=True))),
            "n_with_dmdb_path": int(n_dmdb), "reference": args.reference,
            "direct_relations": [kg.relation_label(r) for r in direct],
            "seconds": seconds, "total_seconds": time.perf_counter() - start,
            "device": f"{cpu_model()} CPU, {os.cpu_count()} cores, "
                      f"{torch.get_num_threads()} threads",
            "torch": torch.__version__, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    Path(args.output).write_text(json.dumps({**meta, **summary, "per_pair": per_pair},
                                            indent=1) + "\n")
    Path(args.markdown).write_text(markdown(summary, meta))
    print(markdown(summary, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

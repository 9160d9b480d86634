"""Reports of a Kelpie study (:mod:`kgif.studies.kelpie`): Kelpie's published rows, a Markdown
table beside them, and a JSON-ready record with entity and relation labels."""

from __future__ import annotations

import torch
from torch import Tensor

from kgif.data.graph import KnowledgeGraph
from kgif.studies.kelpie import KelpieResult

__all__ = ["PUBLISHED", "markdown_table", "result_json"]

#: Kelpie's published ConvE / FB15k-237 necessary end-to-end results (ΔH@1, ΔMRR, facts
#: removed), recomputed from its shipped ``scripts/experiments/end_to_end/
#: *_necessary_conve_fb15k237.csv`` files (Rossi et al., SIGMOD 2022).
PUBLISHED = {"CRIAGE": (-0.290, -0.196, 100), "Data Poisoning": (-0.290, -0.195, 100),
             "K1": (-0.290, -0.191, 100), "Kelpie": (-0.430, -0.284, 226)}


def _p(row: dict, base: str) -> str:
    found = [v for k, v in row["vs"].items() if k == base or k.startswith(f"{base}@")]
    return "—" if not found else f"{found[0]['h1_p']:.3g} / {found[0]['mrr_p']:.3g}"


def _p_noise(row: dict) -> str:
    found = sorted((k, v) for k, v in row["vs"].items() if k.startswith("null_seed"))
    return "—" if not found else "; ".join(
        f"{k.removeprefix('null_')}: {v['h1_p']:.3g} / {v['mrr_p']:.3g}" for k, v in found)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _retraining(result: KelpieResult, name: str) -> str:
    """Wall time of the job's last training process, saying where it resumed."""
    resumed = result.retrain_resumed_from.get(name, 0)
    text = _duration(result.retrain_seconds[name])
    return text if not resumed else f"{text} after resuming at epoch {resumed}"


def markdown_table(result: KelpieResult, rows: list[dict]) -> str:
    """A Markdown table: Kelpie's published rows, then one row per job of ``result`` (finished
    ones with ΔH@1 and ΔMRR and their 95% bootstrap intervals, paired sign-flip p-values
    against ``random``, ``null`` and each retraining-noise row ``null_seedN`` (H@1 / MRR),
    retraining wall time; the others with their
    cache status)."""
    head = ["method", "facts removed", "ΔH@1 [95% CI]", "ΔMRR [95% CI]", "p vs random",
            "p vs null", "p vs noise", "retraining", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, (h1, mrr, facts) in PUBLISHED.items():
        lines.append(f"| {name} (published) | {facts} | {h1:+.3f} | {mrr:+.3f} | | | | | |")
    by = {r["job"]: r for r in rows}
    for job in result.jobs:
        facts = len(job.removed)
        if job.name not in by:
            lines.append(f"| {job.name} | {facts} | pending | pending | | | | | "
                         f"{result.status.get(job.name, 'pending')} |")
            continue
        r = by[job.name]
        cells = [job.name, str(facts),
                 f"{r['h1']:+.3f} [{r['h1_ci'][0]:+.3f}, {r['h1_ci'][1]:+.3f}]",
                 f"{r['mrr']:+.3f} [{r['mrr_ci'][0]:+.3f}, {r['mrr_ci'][1]:+.3f}]",
                 _p(r, "random"), _p(r, "null"), _p_noise(r),
                 _retraining(result, job.name), "done"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _labels(kg: KnowledgeGraph, triples: Tensor) -> list[list[str]]:
    return [[kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)]
            for h, r, t in torch.as_tensor(triples).tolist()]


def result_json(kg: KnowledgeGraph, result: KelpieResult, rows: list[dict]) -> dict:
    """A JSON-ready dict: targets (labels), the original ranks, extraction seconds, each
    explanation (labels per target), each job's removed facts, status, ranks after and
    retraining seconds, the null check and the summary rows."""
    train = kg.training
    return {
        "targets": _labels(kg, result.targets),
        "before_rank": result.before["rank"].tolist(),
        "extraction_seconds": result.extraction_seconds,
        "extraction_cached": result.extraction_cached,
        "explanations": {name: [_labels(kg, train[r[r >= 0]]) for r in rows_]
                         for name, rows_ in result.explanations.items()},
        "jobs": {job.name: {"removed": len(job.removed), "seed": job.seed,
                            "status": result.status.get(job.name, "pending"),
                            "after_rank": result.after[job.name].tolist()
                            if job.name in result.after else None,
                            "retrain_seconds": result.retrain_seconds.get(job.name),
                            "retrain_resumed_from": result.retrain_resumed_from.get(job.name)}
                 for job in result.jobs},
        "null_reproduces_original": result.null_reproduces_original,
        "published": {k: {"h1": v[0], "mrr": v[1], "facts": v[2]} for k, v in PUBLISHED.items()},
        "summary": rows,
    }

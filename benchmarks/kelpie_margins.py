"""Why a deletion flips a Kelpie target: margins, TracIn's predicted flips and actual flips.

    python benchmarks/kelpie_margins.py --original /work/studies/kelpie/fb15k237-conve-seed0 \
        --cache-dir /work/studies/kelpie/cache --results benchmarks/results-cpu-kelpie.json \
        --output benchmarks/results-cpu-kelpie-margins.json

For each target <h, r, t> of the study (``--targets-file``): its **margin** under the original
model, s(h, r, t) - s(h, r, c*), c* the strongest filtered rival
(:func:`kgif.studies.kelpie.runner_up`); the ``tracin_margin`` ranking's first-order
prediction of the margin lost when its top-k facts are deleted (the sum of their TracInCP
margin scores: Pruthi et al., NeurIPS 2020, read as the change of the test function) and
whether that exceeds the margin (a **predicted flip**); the same prediction for the first fact
of every cached ranking (``--methods``: what TracIn expects each method's k = 1 deletion to
cost); and, for every finished retraining in ``--results`` (the JSON of ``python -m kgif
faithfulness --protocol kelpie``), which targets left rank 1 (an **actual flip**), split by
margin tercile and by whether the deleted fact's predicted margin loss exceeds the margin;
and, for every finished retraining in the cache, the **actual margin change** of each target
(the retrained model's s(h, r, t) - s(h, r, c*) minus the original's, c* fixed), its mean and
its Spearman correlation with the predicted loss of the deleted fact, and that change paired
against the retraining-noise rows (``null*``, nothing deleted) and ``random@1``: the margin a
deletion took beyond what any retraining moves; and how many targets two retrainings both
flipped, against the overlap expected if flips fell on targets independently; and, for each
deletion row against random at the same k or budget, the targets only one of the two flipped
(McNemar's discordant pairs), the exact test of that split and how many more targets the row
would have had to flip, with random's flips as they are, to be separable at p < 0.05. Prints a
Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch
from scipy.stats import binomtest, spearmanr

from kgif._io import atomic_write_json
from kgif.data.datasets import load_dataset
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import load_checkpoint, load_checkpoints
from kgif.model.conve import score_all_tails
from kgif.studies.faithfulness import bootstrap_ci, sign_flip_test
from kgif.studies.kelpie import read_targets, runner_up


def _ranking(cache_dir: Path, method: str) -> dict:
    found = sorted((cache_dir / "rankings").glob(f"{method}-*.json"))
    if len(found) != 1:
        raise SystemExit(f"kelpie_margins: expected one cached {method} ranking in "
                         f"{cache_dir / 'rankings'}, found {len(found)}")
    return json.loads(found[0].read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", required=True, help="the original run's folder")
    parser.add_argument("--dataset", default="fb15k237")
    parser.add_argument("--cache-dir", required=True, help="the study's cache (rankings/)")
    parser.add_argument("--targets-file", default="benchmarks/kelpie-targets-fb15k237.tsv")
    parser.add_argument("--results", default=None, help="the study's results JSON")
    parser.add_argument("--methods", nargs="*", default=["tracin", "tracin_margin", "random",
                                                         "similarity"],
                        help="cached rankings whose first fact's margin loss is predicted")
    parser.add_argument("--output", default=None, help="write the per-target table as JSON")
    args = parser.parse_args(argv)
    kg = load_dataset(args.dataset)
    targets = read_targets(args.targets_file, kg)
    checkpoints = load_checkpoints(Path(args.original) / "checkpoints")
    last = checkpoints[-1]
    rivals = runner_up(last, targets, kg.all_triples())
    rows = torch.arange(len(targets))
    with torch.no_grad():
        scores = score_all_tails(last.params, last.buffers, targets[:, 0], 2 * targets[:, 1],
                                 last.config).double()
    margin = scores[rows, targets[:, 2]] - scores[rows, rivals]
    ranking = _ranking(Path(args.cache_dir), "tracin_margin")
    influence = torch.tensor([[math.nan if x is None else x for x in r]
                              for r in ranking["scores"]], dtype=torch.float64)
    cut = margin.quantile(torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
    tercile = torch.bucketize(margin, cut)  # 0: smallest margins
    print(f"# Kelpie targets: margins and flips ({len(targets)} targets, epoch "
          f"{last.epoch} model, load {os.getloadavg()[0]:.1f})\n")
    q = margin.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
    print(f"margin s(t) - s(c*): 10 % {q[0]:.2f}, median {q[1]:.2f}, 90 % {q[2]:.2f}; "
          f"tercile cuts {cut[0]:.2f}, {cut[1]:.2f}\n")
    print("| facts deleted per target | TracIn-predicted margin loss (median) | predicted flips |")
    print("|---|---|---|")
    predicted = {}
    for k in (1, 2, 3, 4):
        loss = influence[:, :k].nan_to_num(0.0).clamp(min=0).sum(1)
        predicted[k] = loss > margin
        print(f"| {k} | {loss.median():.2f} | {int(predicted[k].sum())} of {len(targets)} |")
    out = {"targets": [[kg.entity_label(x) for x in t] for t in targets.tolist()],
           "margin": margin.tolist(), "rival": [kg.entity_label(c) for c in rivals.tolist()],
           "tercile": tercile.tolist(),
           "predicted_flip": {k: v.tolist() for k, v in predicted.items()}, "flips": {},
           "first_fact_margin_loss": {}}
    # TracInCP of the margin for each method's first fact: target minus rival, all checkpoints
    tracin = TracIn(checkpoints, kg.training, show_progress=False)
    both = torch.cat([targets, torch.stack([targets[:, 0], targets[:, 1], rivals], 1)])
    print("\n| method (k = 1) | TracIn-predicted margin loss of its fact: median | mean | "
          "> 0 | > margin |")
    print("|---|---|---|---|---|")
    first_loss = {}
    for method in args.methods:
        first = [torch.tensor([r[0]]) for r in _ranking(Path(args.cache_dir), method)["rows"]]
        scored = tracin.candidate_influence(both, first * 2)
        loss = torch.tensor([float(scored[j][0] - scored[len(targets) + j][0])
                             for j in range(len(targets))], dtype=torch.float64)
        first_loss[method] = loss
        out["first_fact_margin_loss"][method] = loss.tolist()
        print(f"| {method} | {loss.median():.2f} | {loss.mean():.2f} | {int((loss > 0).sum())} "
              f"| {int((loss > margin).sum())} |")
    if args.results:
        jobs = json.loads(Path(args.results).read_text())["jobs"]
        print("\n| retraining | flips (rank > 1 after) | smallest-margin third | middle | "
              "largest | flips where the deleted fact's predicted loss > margin | elsewhere |")
        print("|---|---|---|---|---|---|---|")
        for name, job in jobs.items():
            if job["after_rank"] is None:
                continue
            flip = torch.tensor(job["after_rank"], dtype=torch.float64) > 1
            out["flips"][name] = flip.tolist()
            thirds = [f"{int(flip[tercile == i].sum())} / {int((tercile == i).sum())}"
                      for i in range(3)]
            method = name.split("@")[0]
            if name.endswith("@1") and method in first_loss:
                p = first_loss[method] > margin
            else:
                p = torch.zeros(len(targets), dtype=torch.bool)
            print(f"| {name} | {int(flip.sum())} | {' | '.join(thirds)} | "
                  f"{int(flip[p].sum())} / {int(p.sum())} | {int(flip[~p].sum())} / "
                  f"{int((~p).sum())} |")
        _flip_overlaps(out["flips"])
        _robust_flips(out)
        _separable_flips(out)
    finished = []
    for spec in sorted(Path(args.cache_dir).glob("*/spec.json")):
        result = spec.parent / "result.json"
        if result.is_file():
            finished.append((json.loads(spec.read_text())["name"],
                             json.loads(result.read_text())["checkpoint"]))
    if finished:
        print("\n| retraining | mean margin change [95% CI] | median | Spearman rho "
              "(predicted loss, actual loss) |")
        print("|---|---|---|---|")
    out["margin_change"] = {}
    for name, path in finished:
        after = load_checkpoint(path)
        with torch.no_grad():
            s_after = score_all_tails(after.params, after.buffers, targets[:, 0],
                                      2 * targets[:, 1], after.config).double()
        change = s_after[rows, targets[:, 2]] - s_after[rows, rivals] - margin
        out["margin_change"][name] = change.tolist()
        half = 1.96 * change.std() / math.sqrt(len(change))
        method = name.split("@")[0]
        rho = ""
        if name.endswith("@1") and method in first_loss:
            rho = f"{spearmanr(first_loss[method].numpy(), (-change).numpy()).statistic:+.3f}"
        print(f"| {name} | {change.mean():+.2f} [{change.mean() - half:+.2f}, "
              f"{change.mean() + half:+.2f}] | {change.median():+.2f} | {rho} |")
    _paired_margin_changes(out)
    cache = Path(args.cache_dir)
    out["first_fact_agreement"] = _first_fact_agreement(
        {m: _ranking(cache, m)["rows"] for m in _cached_methods(cache)})
    if args.output:
        atomic_write_json(args.output, out, indent=1)
    return 0


def _cached_methods(cache_dir: Path) -> list[str]:
    """The methods with exactly one cached ranking in ``cache_dir/rankings``, sorted."""
    names = [p.name.rsplit("-", 1)[0] for p in (cache_dir / "rankings").glob("*-*.json")]
    return sorted(n for n in set(names) if names.count(n) == 1)


def _first_fact_agreement(rows: dict[str, list[list[int]]]) -> dict[str, int]:
    """For every pair of explainers, the number of targets whose first fact they share (an
    empty ranking, -1, shares nothing); prints the upper triangle as Markdown."""
    names = list(rows)
    agree = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            agree[f"{a} & {b}"] = sum(x[0] == y[0] and x[0] >= 0
                                      for x, y in zip(rows[a], rows[b], strict=True))
    if len(names) >= 2:
        total = len(rows[names[0]])
        print(f"\n| same first fact (targets of {total}) | " + " | ".join(names[1:]) + " |")
        print("|---|" + "---|" * (len(names) - 1))
        for i, a in enumerate(names[:-1]):
            cells = ["" if j <= i else str(agree[f"{a} & {b}"])
                     for j, b in enumerate(names) if j > 0]
            print(f"| {a} | " + " | ".join(cells) + " |")
    return agree


def _flip_overlaps(flips: dict[str, list[bool]]) -> None:
    """How many targets two retrainings both flipped, beside the count expected if each row's
    flips fell on targets independently of the other's (n_a * n_b / T)."""
    names = [n for n in flips if any(flips[n])]
    if len(names) < 2:
        return
    sets = {n: {i for i, f in enumerate(flips[n]) if f} for n in names}
    total = len(next(iter(flips.values())))
    print("\n| flipped by both (expected if independent) | " + " | ".join(names[1:]) + " |")
    print("|---|" + "---|" * (len(names) - 1))
    for i, a in enumerate(names[:-1]):
        cells = ["" if j <= i else f"{len(sets[a] & sets[b])} "
                 f"({len(sets[a]) * len(sets[b]) / total:.1f})"
                 for j, b in enumerate(names) if j > 0]
        print(f"| {a} ({len(sets[a])}) | " + " | ".join(cells) + " |")


def _random_control(name: str) -> str | None:
    """The random baseline of a deletion row at the same k or budget (``tracin@budget226`` ->
    ``random@budget226``); None for the random rows themselves and the noise rows."""
    method, _, size = name.partition("@")
    return None if not size or method == "random" else f"random@{size}"


def _robust_flips(out: dict) -> None:
    """Flips among the targets that no noise retraining (``null*``: nothing removed) flipped:
    there a flip is less likely to be the retraining's own noise. Each deletion row is paired
    with ``random`` at the same k or budget on those targets (sign-flip test of the per-target
    difference of the two flip indicators)."""
    flips = out["flips"]
    noise = [n for n in flips if n.startswith("null")]
    rows = [n for n in flips if not n.startswith("null")]
    out["robust_flips"] = {}
    if not noise or not rows:
        return
    total = len(flips[noise[0]])
    robust = [i for i in range(total) if not any(flips[n][i] for n in noise)]
    out["robust_targets"] = robust
    print(f"\n| retraining | flips among the {len(robust)} targets no noise retraining "
          f"({', '.join(noise)}) flipped | minus random at the same k or budget (paired), "
          f"sign-flip p |")
    print("|---|---|---|")
    for name in rows:
        hit = torch.tensor([float(flips[name][i]) for i in robust], dtype=torch.float64)
        cell = ""
        control = _random_control(name)
        if control in flips:
            base = torch.tensor([float(flips[control][i]) for i in robust],
                                dtype=torch.float64)
            cell = (f"{int(hit.sum() - base.sum()):+d} ({control}), "
                    f"p = {sign_flip_test(hit - base):.2g}")
        out["robust_flips"][name] = int(hit.sum())
        print(f"| {name} | {int(hit.sum())} | {cell} |")


def _needed_excess(only_b: int, alpha: float = 0.05) -> int:
    """The smallest count a > ``only_b`` of targets flipped only by a row such that McNemar's
    exact test (two-sided binomial test of a successes in a + ``only_b`` trials at 1/2;
    McNemar 1947, scipy.stats.binomtest) rejects at ``alpha``, ``only_b`` being the targets
    flipped only by the control."""
    a = only_b + 1  # the row must flip more than the control, not just differ from it
    while binomtest(a, a + only_b, 0.5).pvalue >= alpha:
        a += 1
    return a


def _separable_flips(out: dict, alpha: float = 0.05) -> None:
    """Each deletion row against random at the same k or budget: the targets only the row
    flipped (a) and only random flipped (b), McNemar's exact p of that split, and the smallest
    a that would have been separable at ``alpha`` with b as observed (what a better explainer
    must reach on these targets; ΔH@1 lower by (needed a - a) / T than the row's)."""
    flips = out["flips"]
    out["separable_flips"] = {}
    rows = [n for n in flips if _random_control(n) in flips]
    if not rows:
        return
    total = len(flips[rows[0]])
    print(f"\n| retraining | flipped only by it / only by random (same k or budget) | "
          f"McNemar exact p | only-it flips needed for p < {alpha:g} | ΔH@1 it would need |")
    print("|---|---|---|---|---|")
    for name in rows:
        control = _random_control(name)
        a = sum(x and not y for x, y in zip(flips[name], flips[control], strict=True))
        b = sum(y and not x for x, y in zip(flips[name], flips[control], strict=True))
        p = binomtest(a, a + b, 0.5).pvalue if a + b else 1.0
        need = _needed_excess(b, alpha)
        needed_delta = -(sum(flips[name]) + max(need - a, 0)) / total
        out["separable_flips"][name] = {"only_row": a, "only_random": b, "p": p,
                                        "needed_only_row": need,
                                        "needed_delta_h1": needed_delta}
        print(f"| {name} | {a} / {b} ({control}) | {p:.2g} | {need} | {needed_delta:+.2f} |")


def _paired_margin_changes(out: dict) -> None:
    """Each deletion row's margin change minus a noise row's (``null*``) and minus ``random``'s
    at the same k or budget, paired over targets: what the deletion took beyond a retraining's
    noise, and beyond a random deletion of the same size."""
    changes = out["margin_change"]
    noise = sorted(n for n in changes if n.startswith("null"))
    rows = [n for n in changes if not n.startswith("null")]
    out["margin_change_paired"] = {}
    if not (noise or any(_random_control(n) in changes for n in rows)) or not rows:
        return
    print("\n| retraining | " + " | ".join(f"minus {b} [95% CI], sign-flip p" for b in noise)
          + " | minus random at the same k or budget [95% CI], sign-flip p |")
    print("|---|" + "---|" * (len(noise) + 1))
    for name in rows:
        cells = []
        control = _random_control(name)
        for base in [*noise, control]:
            if base is None or base not in changes:
                cells.append("")
                continue
            diff = (torch.tensor(changes[name], dtype=torch.float64)
                    - torch.tensor(changes[base], dtype=torch.float64))
            mean, low, high = (float(x) for x in bootstrap_ci(diff))
            p = sign_flip_test(diff)
            out["margin_change_paired"][f"{name} - {base}"] = {
                "mean": mean, "low": low, "high": high, "p": p}
            label = f" ({base})" if base == control else ""
            cells.append(f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]{label}, p = {p:.2g}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())

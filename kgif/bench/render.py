"""Text table, Markdown report and plot of benchmark results."""

from __future__ import annotations

import math
from collections.abc import Iterable

from kgif._io import atomic_write

COLUMNS = ("case", "method", "metric", "value", "unit", "vs baseline", "note")


def _number(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    ax = abs(x)
    if ax and (ax >= 1e6 or ax < 1e-3):
        return f"{x:.3g}"
    return f"{x:,.4g}" if ax < 1e3 else f"{x:,.0f}"


def _cells(r: dict) -> list[str]:
    ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.3g}x"
    return [r["case"], r["method"], r["metric"], _number(r["value"]), r["unit"], ratio,
            r.get("note", "")]


def _by_suite(rows: Iterable[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["suite"], []).append(r)
    return out


def format_table(rows: list[dict]) -> str:
    """Fixed-width table per suite."""
    parts = []
    for suite, group in _by_suite(rows).items():
        cells = [list(COLUMNS)] + [_cells(r) for r in group]
        widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
        lines = [f"== {suite}"]
        for c in cells:
            lines.append("  ".join(v.ljust(w) if i in (0, 1, 2, 4, 6) else v.rjust(w)
                                   for i, (v, w) in enumerate(zip(c, widths, strict=True))))
        parts.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(parts)


def environment_lines(env: dict) -> list[str]:
    keys = ("device", "gpu", "cpu", "cpu_count", "threads", "torch", "captum", "pykeen",
            "git_commit", "load_average", "command")
    return [f"{k}: {env[k]}" for k in keys if env.get(k) is not None]


def markdown(result: dict, title: str = "") -> str:
    """Markdown: environment, then one table per suite."""
    out = [f"# {title or 'kgif benchmarks'} ({result['preset']} suite)", ""]
    if result.get("note"):
        out += [f"**Note:** {result['note']}", ""]
    out += [f"- {line}" for line in environment_lines(result["environment"])]
    out += ["- suite wall time: " + ", ".join(f"{k} {v:.0f} s"
                                                for k, v in result["suites"].items()), ""]
    for suite, group in _by_suite(result["rows"]).items():
        out += [f"## {suite}", "", "| " + " | ".join(COLUMNS) + " |",
                "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in group]
        out.append("")
    return "\n".join(out)


def plot(result: dict, path: str) -> None:
    """Pairs/s against T per method, and streaming time against training-set size.

    Raises:
        ImportError: when matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained",
                                   gridspec_kw={"width_ratios": [1.5, 1]})
    series: dict[tuple, list[tuple[int, float]]] = {}
    for r in rows:
        if r["suite"] == "tracin-throughput" and r["metric"] == "pairs/s":
            series.setdefault((r["method"], r["model"], r["objective"]), []).append(
                (r["n_test"], r["value"]))
    # one colour per method, one marker per model, one line style per objective, so that no
    # two series look alike however many there are
    keys = sorted(series)
    colours = {m: plt.get_cmap("tab10")(i % 10)
               for i, m in enumerate(sorted({k[0] for k in keys}))}
    markers = dict(zip(sorted({k[1] for k in keys}), "os^DvP*X", strict=False))
    styles = dict(zip(sorted({k[2] for k in keys}), ["-", "--", ":", "-."], strict=False))
    for method, model, objective in keys:
        pts = sorted(series[method, model, objective])
        ax1.plot(*zip(*pts, strict=True), color=colours[method],
                 marker=markers.get(model, "o"), linestyle=styles.get(objective, "-"),
                 label=f"{method}, {model}, {objective}")
    ax1.set(xscale="log", yscale="log", xlabel="test triples T", ylabel="(train, test) pairs/s",
            title="TracIn throughput (colour: method; marker: model; line: objective)")
    if series:
        ax1.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    pts = sorted((r["n_edges"], r["value"]) for r in rows
                 if r["suite"] == "tracin-scaling" and r["metric"] == "seconds"
                 and r.get("axis") == "n")
    if pts:
        ax2.plot(*zip(*pts, strict=True), marker="o", label="kgif-structured top-10, T=1")
        ax2.legend(fontsize=7)
    ax2.set(xscale="log", yscale="log", xlabel="training edges n", ylabel="seconds",
            title="TracIn scaling")
    fig.suptitle(f"{result['environment'].get('device')} "
                 f"({result['environment'].get('cpu')}), torch {result['environment']['torch']}",
                 fontsize=8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)

"""Run-level plots and one self-contained ``report.html`` for a batch explain output folder.

:func:`write_run_report` reads every per-triple JSON of a batch run (``<stem>.json`` as
:func:`kgif.explanation.explanation.write_json` writes them: ``{"metadata", "results": [one test
triple]}``; extra fields are ignored) and writes, into the same folder:

* ``influence_distribution.png``: histogram of the reported TracIn scores (proponents and
  opponents, symmetric-log x axis; these are the top-k of each triple, not every edge);
* ``proponents_by_relation.png``: how many reported proponents have each training relation,
  over all test triples (the most frequent ``top_relations``);
* ``self_influence.png``: self-influence (Pruthi et al. 2020, the training edge's influence on
  itself) of the rank-1..``top`` proponents against every other reported edge; a note in the
  figure when the files carry no self-influence;
* ``report.html``: the three figures embedded as base64 PNG data URIs, and one table row per
  test triple with relative links to its files (``<stem>.json``, ``.csv``, and ``<stem>.png``,
  ``.svg``, ``.cyjs``, ``.graphml`` when present), and a **Mechanisms** section when the run
  has the ``mechanisms.json`` of ``explain --mechanisms``. No script, stylesheet or image is fetched
  from the network.

The files ``run.json``, ``summary.json`` and ``explanations.json`` and the ``*.paths.json`` of a
run are not per-triple explanations and are skipped; any other JSON that is not an explanation
document is listed in the report as skipped (never dropped silently).
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from kgif._io import atomic_write, atomic_write_text

__all__ = ["RUN_FIGURES", "RunData", "read_run", "write_run_report"]

logger = logging.getLogger(__name__)

#: Figure files written by :func:`write_run_report`, in report order.
RUN_FIGURES = ("influence_distribution.png", "proponents_by_relation.png", "self_influence.png")
_NOT_EXPLANATIONS = {"run.json", "summary.json", "explanations.json", "mechanisms.json"}
_TRIPLE_FILES = (".png", ".svg", ".csv", ".cyjs", ".graphml", ".paths.json", ".paths.csv")


@dataclass
class RunData:
    """What the report needs from a run folder.

    Attributes:
        folder: the output folder.
        triples: ``(stem, result)`` per per-triple JSON, sorted by file name; ``result`` is the
            ``results[0]`` object of the file.
        skipped: JSON files that are not explanations, with the reason.
    """

    folder: Path
    triples: list[tuple[str, dict]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _explanation_result(path: Path) -> tuple[dict | None, str]:
    """``(results[0], "")`` of an explanation document, or ``(None, reason)``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"report: {path} is not valid JSON (line {error.lineno}: "
                         f"{error.msg})") from error
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or len(results) != 1:
        return None, "not a per-triple explanation (needs a one-element 'results' list)"
    result = results[0]
    if not isinstance(result, dict) or not isinstance(result.get("influences"), list):
        return None, "its result has no 'influences' list"
    for n, inf in enumerate(result["influences"]):
        value = inf.get("influence") if isinstance(inf, dict) else None
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"report: {path}: influences[{n}].influence is {value!r}, not a "
                             "finite number")
    return result, ""


def read_run(folder: str | os.PathLike) -> RunData:
    """Read the per-triple explanation JSON files of a batch output folder.

    Raises:
        FileNotFoundError: if ``folder`` is not a directory.
        ValueError: if a JSON file does not parse or an influence is not a finite number (the
            message names the file), or the folder holds no per-triple explanation.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"report: {folder} is not a directory")
    data = RunData(folder)
    for path in sorted(folder.glob("*.json")):
        if path.name in _NOT_EXPLANATIONS or path.name.endswith(".paths.json"):
            continue
        result, reason = _explanation_result(path)
        if result is None:
            logger.warning("report: skipped %s: %s", path.name, reason)
            data.skipped.append((path.name, reason))
        else:
            data.triples.append((path.name[: -len(".json")], result))
    if not data.triples:
        raise ValueError(f"report: no per-triple explanation JSON in {folder} (expected the "
                         "output folder of 'python -m kgif explain --output-dir')")
    return data


# --------------------------------------------------------------------------- figures


def _name(item: dict, prefix: str, part: str) -> str:
    """Display name, else label, else id of ``<prefix>_<part>`` (tolerates missing fields)."""
    for key in (f"{prefix}_{part}_name", f"{prefix}_{part}_label", f"{prefix}_{part}"):
        if item.get(key) not in (None, ""):
            return str(item[key])
    return "?"


def _influences(data: RunData, kind: str | None = None) -> list[dict]:
    return [inf for _, result in data.triples for inf in result["influences"]
            if kind is None or inf.get("kind") == kind]


def _new_figure(size=(8, 4.5)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _distribution_figure(data: RunData):
    from kgif.explanation.plot import NEGATIVE_COLOUR, POSITIVE_COLOUR

    fig, ax = _new_figure()
    values = {k: [inf["influence"] for inf in _influences(data, k)]
              for k in ("proponent", "opponent")}
    every = values["proponent"] + values["opponent"]
    scale = max((abs(v) for v in every if v), default=1.0)
    linear = max(min((abs(v) for v in every if v), default=scale), scale * 1e-6)
    ax.set_xscale("symlog", linthresh=linear)
    bins = _symlog_bins(every, linear)
    for kind, colour in (("proponent", POSITIVE_COLOUR), ("opponent", NEGATIVE_COLOUR)):
        ax.hist(values[kind], bins=bins, color=colour, alpha=0.7,
                label=f"{kind}s ({len(values[kind])})")
    ax.set_xlabel("TracIn influence (symmetric log scale)")
    ax.set_ylabel("edges")
    ax.set_title(f"Reported influence scores over {len(data.triples)} test triples")
    ax.legend()
    return fig


def _symlog_bins(values: list[float], linear: float, n: int = 40) -> list[float]:
    import numpy as np

    top = max((abs(v) for v in values), default=1.0) or 1.0
    if top <= linear:
        return list(np.linspace(-top, top, n + 1))
    half = np.geomspace(linear, top * 1.0001, n // 2)
    return sorted(set((-half).tolist() + [0.0] + half.tolist()))


def _relation_figure(data: RunData, top_relations: int):
    from kgif.explanation.plot import POSITIVE_COLOUR

    counts = Counter(_name(inf, "train", "relation") for inf in _influences(data, "proponent"))
    common = counts.most_common(top_relations)[::-1]
    fig, ax = _new_figure((8, max(2.5, 0.35 * len(common) + 1.2)))
    ax.barh([name for name, _ in common], [c for _, c in common], color=POSITIVE_COLOUR)
    for y, (_, c) in enumerate(common):
        ax.annotate(str(c), (c, y), xytext=(3, 0), textcoords="offset points", va="center")
    rest = len(counts) - len(common)
    ax.set_xlabel("proponent edges" + (f" ({rest} rarer relations not shown)" if rest else ""))
    ax.set_title(f"Proponents by training relation, {len(data.triples)} test triples")
    return fig


def _self_influence_figure(data: RunData, top: int):
    fig, ax = _new_figure()
    groups = {f"rank 1-{top} proponents": [], "other reported edges": []}
    for inf in _influences(data):
        value = inf.get("self_influence")
        if isinstance(value, int | float) and math.isfinite(value):
            best = inf.get("kind") == "proponent" and (inf.get("rank") or top + 1) <= top
            groups[f"rank 1-{top} proponents" if best else "other reported edges"].append(value)
    if not any(groups.values()):
        ax.text(0.5, 0.5, "no self-influence in these files\n(run explain with self-influence "
                "on)", ha="center", va="center", fontsize=13, transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title("Self-influence of the top proponents")
        return fig
    labels = [f"{k}\n(n={len(v)})" for k, v in groups.items()]
    ax.boxplot([v or [math.nan] for v in groups.values()], orientation="horizontal",
               tick_labels=labels, showfliers=True)
    if all(v > 0 for vals in groups.values() for v in vals):
        ax.set_xscale("log")
    ax.set_xlabel("self-influence (sum over checkpoints of lr x squared gradient norm)")
    ax.set_title("Self-influence of the top proponents against the rest")
    return fig


def run_figures(data: RunData, *, top_relations: int = 20, top: int = 3) -> dict:
    """The three run-level figures, by file name (:data:`RUN_FIGURES`)."""
    figures = (_distribution_figure(data), _relation_figure(data, top_relations),
               _self_influence_figure(data, top))
    return dict(zip(RUN_FIGURES, figures, strict=True))


# --------------------------------------------------------------------------- HTML


def _png_bytes(fig, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _links(folder: Path, stem: str) -> str:
    files = [f"{stem}.json"] + [stem + s for s in _TRIPLE_FILES if (folder / (stem + s)).is_file()]
    return " ".join(f'<a href="{quote(name)}">{html.escape(name[len(stem):].lstrip("."))}</a>'
                    for name in files)


def _row(folder: Path, stem: str, result: dict) -> str:
    pro = [x for x in result["influences"] if x.get("kind") == "proponent"]
    best = pro[0] if pro else None
    top = "" if best is None else html.escape(
        f"{_name(best, 'train', 'head')} {_name(best, 'train', 'relation')} "
        f"{_name(best, 'train', 'tail')} ({best['influence']:.3g})")
    figure = (f'<a href="{quote(stem)}.png">figure</a>' if (folder / f"{stem}.png").is_file()
              else "")
    cells = [html.escape(stem), *(html.escape(_name(result, "test", p))
                                  for p in ("head", "relation", "tail")),
             top, figure, _links(folder, stem)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}"
          "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
          "padding:3px 6px;text-align:left}img{max-width:100%;display:block;margin:1em 0}")


def _mechanism_section(folder: Path, n_paths: int = 3, n_metapaths: int = 4) -> str:
    """The ``mechanisms.json`` of ``explain --mechanisms`` as a table (empty without it): per
    test triple its best paths with metapath and score, and its most prominent metapaths."""
    path = folder / "mechanisms.json"
    if not path.is_file():
        return ""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"report: {path} is not a mechanisms document ({error})") from error
    rows = []
    for item in results:
        best = "<br>".join(html.escape(f"{p['rank']}. {p['metapath']} {p['score']:+.3g}: "
                                       f"{p['text']}") for p in item["paths"][:n_paths])
        metapaths = ", ".join(html.escape(f"{m['metapath']} {m['paths']} (best #"
                                          f"{m['best_rank']})")
                              for m in item["metapaths"][:n_metapaths])
        cells = [html.escape(f"{item['test_head_name']} {item['test_relation_label']} "
                             f"{item['test_tail_name']}"), best or "no path", metapaths]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in ("test triple", "best paths (metapath, score)",
                                                "metapaths (paths, best rank)"))
    return (f'<h2>Mechanisms</h2><p>Direct relations set apart; paths ranked by the '
            f'{html.escape(str(results[0]["aggregate"]) if results else "")} of their edges\' '
            f'TracIn scores (<a href="mechanisms.json">mechanisms.json</a>, '
            f'<a href="mechanisms.csv">mechanisms.csv</a>).</p>'
            f"<table><tr>{header}</tr>{''.join(rows)}</table>")


def render_html(data: RunData, images: dict[str, bytes], title: str) -> str:
    """The report page: embedded PNGs (data URIs), skipped files, and the table of triples."""
    from kgif._version import __version__

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{len(data.triples)} test triples; written by kgif {__version__} "
             "(<code>python -m kgif report</code>).</p>"]
    for name, png in images.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="{html.escape(name)}" src="{uri}">')
    if data.skipped:
        items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in data.skipped)
        parts.append(f"<h2>Skipped files</h2><ul>{items}</ul>")
    header = "".join(f"<th>{h}</th>" for h in ("file", "head", "relation", "tail",
                                                "top proponent (influence)", "figure", "files"))
    rows = "".join(_row(data.folder, stem, result) for stem, result in data.triples)
    parts.append(f"<h2>Test triples</h2><table><tr>{header}</tr>{rows}</table>")
    parts.append(_mechanism_section(data.folder) + "</body></html>")
    return "\n".join(parts) + "\n"


def write_run_report(folder: str | os.PathLike, *, output: str | os.PathLike | None = None,
                     top_relations: int = 20, top: int = 3, dpi: int = 110) -> Path:
    """Write the run-level PNGs and ``report.html`` for a batch explain output folder.

    Args:
        folder: the batch run's ``--output-dir``.
        output: the HTML file (default ``<folder>/report.html``); links in it are relative to
            ``folder``, so keep it there.
        top_relations: relations shown in the proponents-by-relation chart.
        top: proponents of rank 1..``top`` form the "top" self-influence group.
        dpi: figure resolution.

    Returns:
        The path of the HTML report.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_run`.
    """
    data = read_run(folder)
    images = {}
    for name, fig in run_figures(data, top_relations=top_relations, top=top).items():
        images[name] = _png_bytes(fig, dpi)
        atomic_write(data.folder / name, lambda tmp, b=images[name]: Path(tmp).write_bytes(b))
    path = Path(output) if output is not None else data.folder / "report.html"
    title = f"kgif explanations: {data.folder.name}"
    return atomic_write_text(path, render_html(data, images, title))

"""Run-level plots and one self-contained ``report.html`` for a batch explain output folder.

:func:`write_run_report` reads every per-triple JSON of a batch run (``<stem>.json`` as
:func:`kgif.explanation.tables.write_json` writes them: ``{"metadata", "results": [one test
triple]}``; extra fields are ignored) and writes, into the same folder:

* ``influence_distribution.png``: histogram of the reported TracIn scores (proponents and
  opponents, symmetric-log x axis; these are the top-k of each triple, not every edge);
* ``proponents_by_relation.png``: how many reported proponents have each training relation,
  over all test triples (the most frequent ``top_relations``);
* ``self_influence.png``: self-influence (Pruthi et al. 2020, the training edge's influence on
  itself) of the rank-1..``top`` proponents against every other reported edge; a note in the
  figure when the files carry no self-influence;
* ``report.html``, one self-contained page (no script, stylesheet or image is fetched from the
  network; :mod:`kgif.jobs.report_page` holds its guide, style and scripts):

  - a "how to read this" guide (proponents, opponents, TracInCP scores and their units);
  - the run's settings (objectives, normalisation, method, parameters, ``k``, checkpoints with
    epochs and learning rates) and the model's test metrics (:mod:`kgif.jobs.report_settings`);
  - the three figures above, embedded as base64 PNG data URIs;
  - a sortable table with one row per test triple and relative links to its files
    (``<stem>.json``, ``.csv``, and ``<stem>.png``, ``.svg``, ``.cyjs``, ``.graphml`` when
    present);
  - for the first ``detailed`` test triples, a section with the triple's figure (``<stem>.png``,
    embedded), an **interactive network** (Cytoscape.js, bundled and inlined, fed by the
    ``<stem>.cyjs`` of :func:`kgif.explanation.network.to_cytoscape` or the same records built
    from the JSON) and a sortable table of its proponents and opponents.
  - a **Mechanisms** section when the run has the ``mechanisms.json`` of
    ``explain --mechanisms``.

The files ``run.json``, ``summary.json`` and ``explanations.json`` and the ``*.paths.json`` of a
run are not per-triple explanations and are skipped; any other JSON that is not an explanation
document is listed in the report as skipped (never dropped silently).

A run that was killed or is still going is reported as such: the number of test triples it
has (``run.json``'s ``test_triples.count``, else ``summary.json``'s ``total``) minus the
finished ones is shown as pending (:attr:`RunData.pending`).
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
from functools import partial
from pathlib import Path
from urllib.parse import quote

from kgif._io import atomic_write, atomic_write_text
from kgif.jobs.report_page import (
    CYTOSCAPE_VERSION,
    GUIDE,
    SCRIPT,
    STYLE,
    cytoscape_js,
    network_elements,
    script_json,
)
from kgif.jobs.report_settings import read_settings

__all__ = ["RUN_FIGURES", "RunData", "read_run", "run_total", "write_run_report"]

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
        total: test triples of the run (from ``run.json`` or ``summary.json``), None when
            neither says.
    """

    folder: Path
    triples: list[tuple[str, dict]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    total: int | None = None

    @property
    def pending(self) -> int | None:
        """Test triples of the run not finished yet (None when the total is unknown)."""
        return None if self.total is None else max(self.total - len(self.triples), 0)


def _count(path: Path, key: str) -> int | None:
    """``document[key]`` of a JSON file when it is a non-negative integer, else None."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def run_total(folder: Path) -> int | None:
    """Test triples of the run in ``folder``: ``run.json``'s ``test_triples.count``, else
    ``summary.json``'s ``total``, else None."""
    for name, key in (("run.json", "test_triples.count"), ("summary.json", "total")):
        total = _count(folder / name, key)
        if total is not None:
            return total
    return None


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
    data.total = run_total(folder)
    if not data.triples and data.total:
        raise ValueError(f"report: {folder} holds no finished test triple yet ({data.total} "
                         "pending); run the same explain command again to resume it")
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
    groups: dict[str, list[float]] = {f"rank 1-{top} proponents": [], "other reported edges": []}
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
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):  # names are plain text, not math
        figures = (_distribution_figure(data), _relation_figure(data, top_relations),
                   _self_influence_figure(data, top))
    return dict(zip(RUN_FIGURES, figures, strict=True))


# --------------------------------------------------------------------------- HTML


def _write_bytes(tmp: str, data: bytes) -> None:
    Path(tmp).write_bytes(data)


def _png_bytes(fig, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _links(folder: Path, stem: str) -> str:
    files = [f"{stem}.json"] + [stem + s for s in _TRIPLE_FILES if (folder / (stem + s)).is_file()]
    return " ".join(f'<a href="{quote(name)}">{html.escape(name[len(stem):].lstrip("."))}</a>'
                    for name in files)


def _breakable(text: str) -> str:
    """``text`` escaped for HTML, with a line-break opportunity after each ``_``."""
    return html.escape(text).replace("_", "_<wbr>")


def _cell(value, sort=None, numeric: bool = False) -> str:
    """One ``<td>``, escaped; ``sort`` is the key the table sorter uses (default: the text)."""
    attrs = (f' data-sort="{html.escape(str(sort))}"' if sort is not None else "") + (
        ' class="num"' if numeric else "")
    return f"<td{attrs}>{value}</td>"


def _table(headers: list[str], rows: list[str], sortable: bool = True) -> str:
    """A table in a horizontally scrolling box; ``rows`` are ready ``<tr>`` strings."""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th{cls}>{html.escape(h)}</th>" for h in headers)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _pairs_table(pairs: list[tuple[str, str]], headers: list[str]) -> str:
    rows = [f"<tr>{_cell(html.escape(a))}{_cell(html.escape(b))}</tr>" for a, b in pairs]
    return _table(headers, rows, sortable=False)


def _triple_text(result: dict) -> str:
    return " \u2014".join([_name(result, "test", "head"), _name(result, "test", "relation")]) + (
        "\u2192 " + _name(result, "test", "tail"))


def _row(folder: Path, n: int, stem: str, result: dict, detailed: bool) -> str:
    pro = [x for x in result["influences"] if x.get("kind") == "proponent"]
    best = pro[0] if pro else None
    top = "" if best is None else _breakable(
        f"{_name(best, 'train', 'head')} {_name(best, 'train', 'relation')} "
        f"{_name(best, 'train', 'tail')}")
    score = "" if best is None else f"{best['influence']:.4g}"
    detail = f'<a href="#triple-{n}">details</a>' if detailed else ""
    cells = [_cell(n, n, numeric=True),
             *(_cell(_breakable(_name(result, "test", p)))
               for p in ("head", "relation", "tail")),
             _cell(top), _cell(score, best["influence"] if best else "", numeric=True),
             _cell(detail), _cell(_links(folder, stem))]
    return "<tr>" + "".join(cells) + "</tr>"


def _settings_section(data: RunData) -> str:
    first = data.folder / f"{data.triples[0][0]}.json"
    settings = read_settings(data.folder, first)
    parts = ["<h2>Run settings</h2>", _pairs_table(settings.rows, ["setting", "value"])]
    if settings.checkpoints:
        parts += ["<h3>Checkpoints (TracInCP sums over these)</h3>",
                  _pairs_table(settings.checkpoints, ["epoch", "learning rate"])]
    if settings.metrics:
        parts += ["<h3>Model metrics (test split, filtered ranks, both sides, realistic ties)"
                  "</h3>", _pairs_table(settings.metrics, ["metric", "value"])]
    parts += [f"<p><i>{html.escape(note)}</i></p>" for note in settings.notes]
    return "\n".join(parts)


def _influence_rows(result: dict) -> list[str]:
    rows = []
    for inf in result["influences"]:
        kind = str(inf.get("kind", ""))
        self_inf = inf.get("self_influence")
        cells = [_cell(f'<span class="{"pro" if kind == "proponent" else "opp"}">'
                       f"{html.escape(kind)}</span>"),
                 _cell(html.escape(str(inf.get("rank", ""))), inf.get("rank", ""), numeric=True),
                 *(_cell(_breakable(_name(inf, "train", p)))
                   for p in ("head", "relation", "tail")),
                 _cell(f"{inf['influence']:.4g}", inf["influence"], numeric=True),
                 _cell("" if self_inf is None else f"{self_inf:.4g}",
                       "" if self_inf is None else self_inf, numeric=True)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


def _triple_section(folder: Path, n: int, stem: str, result: dict, dpi_note: str) -> str:
    """One test triple: figure (embedded PNG), interactive network, influence table."""
    parts = [f'<section class="triple" id="triple-{n}"><h3>{n}. '
             f"{_breakable(_triple_text(result))}</h3>"]
    figure = folder / f"{stem}.png"
    if figure.is_file():
        uri = "data:image/png;base64," + base64.b64encode(figure.read_bytes()).decode("ascii")
        parts.append(f'<img alt="{html.escape(stem)} figure" src="{uri}">')
    else:
        parts.append(f"<p><i>No figure for this triple ({html.escape(dpi_note)}).</i></p>")
    elements = network_elements(folder, stem, result)
    parts.append(f'<p>Interactive network ({len(elements["nodes"])} entities, '
                 f'{len(elements["edges"])} edges):</p>'
                 f'<div class="cy" id="cy-{n}" data-source="net-{n}" data-info="info-{n}"></div>'
                 f'<div class="info" id="info-{n}">Click a node or an edge for details.</div>'
                 f'<script type="application/json" id="net-{n}">{script_json(elements)}</script>')
    parts.append(_table(["kind", "rank", "head", "relation", "tail", "TracIn score",
                         "self-influence"], _influence_rows(result)))
    return "\n".join(parts) + "</section>"


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
        # display names (files written before text_names existed carry labels only)
        best = "<br>".join(html.escape(f"{p['rank']}. {p['metapath']} {p['score']:+.3g}: "
                                       f"{p.get('text_names', p['text'])}")
                           for p in item["paths"][:n_paths])
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



def render_html(data: RunData, images: dict[str, bytes], title: str, *,
                detailed: int = 50) -> str:
    """The report page (see the module docstring); self-contained, no network access.

    Args:
        data: the run (:func:`read_run`).
        images: run-level PNG bytes by file name, embedded as data URIs.
        title: page title.
        detailed: the first this many test triples get a section with their figure, network
            view and influence table (all get a row in the table of test triples).
    """
    from kgif._version import __version__

    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>")
    parts = [head, f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(data.triples)} test triples; written by kgif {__version__} "
             "(<code>python -m kgif report</code>); interactive views drawn with Cytoscape.js "
             f"{CYTOSCAPE_VERSION} (MIT licence), included in this file.</p>"]
    if data.pending:
        parts.append(f"<p><strong>The run is not finished: {data.pending} of {data.total} test "
                     "triples are pending</strong> (run the same explain command again to "
                     "resume it); the figures and the table show the finished ones.</p>")
    parts += [GUIDE, _settings_section(data), "<h2>Over all test triples</h2>"]
    for name, png in images.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="{html.escape(name)}" src="{uri}">')
    if data.skipped:
        items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in data.skipped)
        parts.append(f"<h2>Skipped files</h2><ul>{items}</ul>")
    rows = [_row(data.folder, n, stem, result, n <= detailed)
            for n, (stem, result) in enumerate(data.triples, start=1)]
    parts += ["<h2>Test triples</h2>",
              _table(["#", "head", "relation", "tail", "top proponent", "its TracIn score",
                      "details", "files"], rows)]
    note = "run explain with --figures to draw one"
    parts += [_triple_section(data.folder, n, stem, result, note)
              for n, (stem, result) in enumerate(data.triples[:detailed], start=1)]
    if len(data.triples) > detailed:
        parts.append(f"<p><i>Sections for the first {detailed} test triples only; the files "
                     "of the others are linked in the table.</i></p>")
    parts.append(_mechanism_section(data.folder))
    parts += [f"<script>{cytoscape_js()}</script>", f"<script>{SCRIPT}</script>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def write_run_report(folder: str | os.PathLike, *, output: str | os.PathLike | None = None,
                     top_relations: int = 20, top: int = 3, dpi: int = 110,
                     data: RunData | None = None, detailed: int = 50) -> Path:
    """Write the run-level PNGs and ``report.html`` for a batch explain output folder.

    Args:
        folder: the batch run's ``--output-dir``.
        output: the HTML file (default ``<folder>/report.html``); links in it are relative to
            ``folder``, so keep it there.
        top_relations: relations shown in the proponents-by-relation chart.
        top: proponents of rank 1..``top`` form the "top" self-influence group.
        dpi: figure resolution.
        data: ``read_run(folder)`` if the caller already has it.
        detailed: the first this many test triples get their own section (figure,
            interactive network, sortable influence table).

    Returns:
        The path of the HTML report.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_run`; ValueError also if ``detailed``
            < 0.
    """
    if detailed < 0:
        raise ValueError(f"write_run_report: detailed={detailed}, expected >= 0")
    data = read_run(folder) if data is None else data
    images = {}
    for name, fig in run_figures(data, top_relations=top_relations, top=top).items():
        images[name] = _png_bytes(fig, dpi)
        atomic_write(data.folder / name, partial(_write_bytes, data=images[name]))
    path = Path(output) if output is not None else data.folder / "report.html"
    title = f"kgif explanations: {data.folder.name}"
    return atomic_write_text(path, render_html(data, images, title, detailed=detailed))

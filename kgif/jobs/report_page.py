"""The parts of ``report.html`` that are not figures: guide, style, scripts, network data.

Everything here works offline from the one HTML file:

* :func:`cytoscape_js` returns the bundled Cytoscape.js (``kgif/jobs/assets/cytoscape.min.js``,
  version :data:`CYTOSCAPE_VERSION`, MIT licence kept in its header and in
  ``assets/cytoscape.LICENSE``; see ``assets/PROVENANCE.md``), inlined in a ``<script>``;
* :func:`script_json` embeds data as JSON inside ``<script type="application/json">`` with
  ``<``, ``>``, ``&`` and the line separators U+2028/U+2029 written as ``\\uXXXX`` escapes, so
  no entity name (``</script>``, quotes, ``<!--``) can end the element or inject markup;
* :func:`network_elements` gives one explanation's Cytoscape.js elements: the ``<stem>.cyjs``
  file the batch run wrote (:func:`kgif.explanation.network.to_cytoscape`) when present, else
  the same records built from the per-triple JSON (test edge, proponents, opponents);
* :data:`SCRIPT` draws every network (Cytoscape.js ``preset`` layout at the positions of the
  static figure, :func:`kgif.explanation.plot.layout`, so a page always looks the same),
  shows the details of a clicked node or edge, sorts tables by a clicked column header, and
  marks the page for tests: each network container gets
  ``data-kgif-nodes`` / ``data-kgif-edges`` (the counts Cytoscape.js laid out) and
  ``data-kgif-rendered="true"`` once Cytoscape.js has drawn it on its canvas, and ``<body>``
  gets ``data-kgif-networks`` (how many networks were drawn) once all are drawn.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

__all__ = ["CYTOSCAPE_VERSION", "GUIDE", "SCRIPT", "STYLE", "cytoscape_js", "network_elements",
           "script_json"]

#: Version of the bundled ``cytoscape.min.js`` (npm package ``cytoscape``).
CYTOSCAPE_VERSION = "3.35.0"

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
            "\u2029": "\\u2029"}


def script_json(value) -> str:
    """``value`` as JSON text that is safe inside a ``<script>`` element (see module doc).

    Raises:
        ValueError: if ``value`` holds NaN or infinity (not JSON).
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return "".join(_ESCAPES.get(c, c) for c in text)


@cache
def cytoscape_js() -> str:
    """The bundled Cytoscape.js source.

    Raises:
        FileNotFoundError: if the package was installed without its data files.
        ValueError: if the file holds ``</script`` (it could not be inlined).
    """
    text = (resources.files("kgif.jobs") / "assets" / "cytoscape.min.js").read_text(
        encoding="utf-8")
    if "</script" in text.lower():
        raise ValueError("report: kgif/jobs/assets/cytoscape.min.js contains '</script' and "
                         "cannot be inlined into report.html")
    return text


def _node(label: str, name: str, kind: str, role: str) -> dict:
    return {"data": {"id": label, "label": label, "name": name, "kind": kind, "role": role}}


def _part(item: dict, prefix: str, part: str, field: str) -> str:
    value = item.get(f"{prefix}_{part}_{field}")
    if value in (None, ""):
        value = item.get(f"{prefix}_{part}_label", item.get(f"{prefix}_{part}", "?"))
    return str(value)


def _from_result(result: dict) -> dict:
    """Cytoscape.js elements of a per-triple JSON result: test edge, then its influences."""
    nodes: dict[str, dict] = {}
    edges = []

    def add(item, prefix, part, role):
        label = _part(item, prefix, part, "label")
        if label not in nodes:
            nodes[label] = _node(label, _part(item, prefix, part, "name"),
                                 str(item.get(f"{prefix}_{part}_kind") or ""), role)
        return label

    head, tail = add(result, "test", "head", "head"), add(result, "test", "tail", "tail")
    edges.append({"data": {"id": "e0", "source": head, "target": tail, "role": "test",
                           "relation_name": _part(result, "test", "relation", "name"),
                           "influence": 0.0, "rank": 0}})
    for n, inf in enumerate(result.get("influences", []), start=1):
        source = add(inf, "train", "head", "context")
        target = add(inf, "train", "tail", "context")
        edges.append({"data": {
            "id": f"e{n}", "source": source, "target": target, "role": str(inf.get("kind")),
            "relation_name": _part(inf, "train", "relation", "name"),
            "influence": float(inf["influence"]), "rank": inf.get("rank"),
            "self_influence": inf.get("self_influence")}})
    return {"nodes": list(nodes.values()), "edges": edges}


def _from_cyjs(path: Path) -> dict | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    elements = document.get("elements") if isinstance(document, dict) else None
    ok = (isinstance(elements, dict) and isinstance(elements.get("nodes"), list)
          and isinstance(elements.get("edges"), list))
    return elements if ok else None


def _positions(elements: dict) -> None:
    """The positions of the static figure (:func:`kgif.explanation.plot.layout`: seeded spring
    layout, head left of tail), so the interactive view starts as the figure looks."""
    from kgif.explanation.network import Subgraph
    from kgif.explanation.plot import layout

    nodes = [n["data"] for n in elements["nodes"]]
    edges = [e["data"] for e in elements["edges"]]
    pos = layout(Subgraph((0, 0, 0), nodes, edges)) if edges else {}
    for node in elements["nodes"]:
        x, y = pos.get(node["data"]["id"], (0.0, 0.0))
        node["position"] = {"x": round(500 * x, 2), "y": round(-350 * y, 2)}  # y points down


def network_elements(folder: Path, stem: str, result: dict) -> dict:
    """Cytoscape.js ``elements`` (``{"nodes": [...], "edges": [...]}``) of one explanation.

    From ``<folder>/<stem>.cyjs`` when it is a readable Cytoscape.js document, else built from
    ``result`` (a per-triple JSON ``results[0]``); nodes get the positions of the static
    figure.

    Raises:
        ImportError: without networkx (``pip install 'kgif[plot]'``).
    """
    elements = _from_cyjs(folder / f"{stem}.cyjs") or _from_result(result)
    _positions(elements)
    return elements


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1250px;padding:0 1em;
 line-height:1.4;color:#222}
h1,h2,h3{overflow-wrap:break-word}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:90%;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;
 overflow-wrap:break-word;max-width:28em}
th.sortable{cursor:pointer;background:#f3f3f3;white-space:nowrap}
th.sortable::after{content:" \\2195";color:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
img{max-width:100%;display:block;margin:1em 0}
.guide{background:#f7f9fc;border-left:4px solid #2166ac;padding:.5em 1em}
.cy{width:100%;height:560px;border:1px solid #ccc;border-radius:4px}
.info{font-size:90%;min-height:1.5em;margin:.3em 0 1em;overflow-wrap:anywhere}
.pro{color:#2166ac}.opp{color:#b2182b}
section.triple{border-top:2px solid #ddd;margin-top:2em}
"""

GUIDE = """
<div class="guide">
<h2>How to read this report</h2>
<p>Each <b>test triple</b> (head &mdash;relation&rarr; tail, e.g. a drug that may treat a
disease) was explained with <b>TracIn</b> (Pruthi et al. 2020): for every training edge, its
influence score says how much training on that edge changed the model's score of the test triple.
</p>
<ul>
<li><b class="pro">Proponents</b>: training edges with a positive score. Training on them
<i>raised</i> the model's confidence in the test triple: they are the evidence the model used.
</li>
<li><b class="opp">Opponents</b>: training edges with a negative score. Training on them
<i>lowered</i> that confidence: evidence the model saw against it.</li>
<li><b>TracInCP score</b>: the sum, over the saved checkpoints, of the learning rate times the
dot product of the gradient of the training edge's loss and the gradient of the test triple's
objective (see the settings below). Its unit is the unit of the test objective (here: score or
loss) per training step; only the sign and the relative size within one test triple are
meaningful, not the absolute value, and scores of different runs are not comparable.</li>
<li><b>Self-influence</b>: the same score of a training edge on itself; very high values mark
edges the model finds hard or unusual (possible noise).</li>
<li><b>Figures</b>: the dashed black arrow is the test triple; blue arrows are proponents, red
ones opponents, wider means a larger |score|; a gold halo marks the best head-tail paths. Each
edge carries a number that the legend beside the figure names (relation and score).</li>
<li><b>Interactive network</b>: drag nodes, zoom with the wheel, click a node or an edge to
see its full name, relation and score below the view.</li>
<li><b>Tables</b>: click a column header to sort by it.</li>
</ul>
</div>
"""

SCRIPT = r"""
(function () {
  "use strict";
  function sortTable(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var up = th.getAttribute("data-order") !== "up";
    th.parentNode.querySelectorAll("th").forEach(function (x) { x.removeAttribute("data-order"); });
    th.setAttribute("data-order", up ? "up" : "down");
    var rows = Array.prototype.slice.call(body.rows);
    function key(row) {
      var cell = row.cells[col], text = cell.getAttribute("data-sort") || cell.textContent;
      var number = parseFloat(text);
      return isNaN(number) || !/^\s*[-+]?[\d.]/.test(text) ? text.toLowerCase() : number;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) :
        (typeof x === "number" ? -1 : 1);
      return up ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("th.sortable").forEach(function (th) {
    th.addEventListener("click", function () { sortTable(th); });
  });

  var palette = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                 "#17becf", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2"];
  function colours(elements) {
    var kinds = {}, n = 0;
    elements.nodes.forEach(function (node) {
      var k = node.data.kind || "";
      if (!(k in kinds)) { kinds[k] = k === "" ? "#bdbdbd" : palette[n++ % palette.length]; }
      node.data.colour = kinds[k];
    });
    elements.edges.forEach(function (edge) {
      var d = edge.data;
      d.colour = d.role === "test" ? "#000000" : d.influence >= 0 ? "#2166ac" : "#d6604d";
    });
  }
  function widths(elements) {
    var top = 0;
    elements.edges.forEach(function (e) { top = Math.max(top, Math.abs(e.data.influence || 0)); });
    elements.edges.forEach(function (e) {
      var size = Math.abs(e.data.influence || 0) / (top || 1);
      e.data.width = e.data.role === "test" ? 4 : 1 + 5 * size;
    });
  }
  function describe(el) {
    var d = el.data();
    if (el.isNode()) { return d.name + " (" + (d.kind || "no kind") + "; " + d.label + ")"; }
    var what = d.role === "test" ? "test triple" : d.role + " rank " + d.rank +
      ", TracIn score " + Number(d.influence).toPrecision(4);
    return el.source().data("name") + " \u2014" + d.relation_name + "\u2192 " +
      el.target().data("name") + ": " + what;
  }
  var drawn = 0;
  document.querySelectorAll("div.cy").forEach(function (box) {
    var elements = JSON.parse(document.getElementById(box.getAttribute("data-source")).textContent);
    colours(elements); widths(elements);
    var cy = cytoscape({
      container: box, elements: elements, wheelSensitivity: 0.3,
      layout: {name: "preset", fit: true, padding: 30},
      style: [
        {selector: "node", style: {"background-color": "data(colour)", "label": "data(name)",
          "text-wrap": "wrap", "text-max-width": "140px", "font-size": 11, "text-valign": "top",
          "text-margin-y": -4, "width": 18, "height": 18, "border-color": "#fff",
          "border-width": 1, "text-background-color": "#fff", "text-background-opacity": 0.7}},
        {selector: "node[role = 'head'], node[role = 'tail']", style: {"width": 30,
          "height": 30, "border-color": "#000", "border-width": 3, "font-weight": "bold"}},
        {selector: "edge", style: {"curve-style": "bezier", "line-color": "data(colour)",
          "target-arrow-color": "data(colour)", "target-arrow-shape": "triangle",
          "width": "data(width)", "label": "data(relation_name)", "font-size": 9,
          "color": "data(colour)", "text-rotation": "autorotate",
          "text-background-color": "#fff", "text-background-opacity": 0.8}},
        {selector: "edge[role = 'test']", style: {"line-style": "dashed"}},
        {selector: "edge[?on_path]", style: {"underlay-color": "#f4b400",
          "underlay-opacity": 0.45, "underlay-padding": 5}},
        {selector: ":selected", style: {"overlay-color": "#f4b400", "overlay-opacity": 0.4}}
      ]
    });
    var info = document.getElementById(box.getAttribute("data-info"));
    cy.on("tap", "node, edge", function (event) { info.textContent = describe(event.target); });
    cy.one("render", function () { box.setAttribute("data-kgif-rendered", "true"); });
    box.setAttribute("data-kgif-nodes", String(cy.nodes().length));
    box.setAttribute("data-kgif-edges", String(cy.edges().length));
    drawn += 1;
  });
  document.body.setAttribute("data-kgif-networks", String(drawn));
})();
"""

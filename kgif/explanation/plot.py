"""Figures of explanations: the test edge, its proponents and opponents, and head-tail paths.

:func:`plot_explanation` draws the network of
:func:`kgif.explanation.network.explanation_subgraph` with matplotlib (a
:class:`kgif.explanation.figure.NotebookFigure`, which shows inline in Jupyter, on the Agg
canvas, so no display and no pyplot state) and a networkx spring layout with a fixed seed, so a
given explanation always gives the same picture:

* the **test edge** is a thick dashed black arrow (:data:`TEST_EDGE_STYLE`);
* training edges are arrows from head to tail, coloured by the **sign** of their TracIn
  influence (:data:`POSITIVE_COLOUR` for >= 0, :data:`NEGATIVE_COLOUR` for < 0; a blue/red
  pair that stays distinct under the common colour-vision deficiencies) with a width growing
  with ``|influence|`` (linear from :data:`MIN_WIDTH` to :data:`MAX_WIDTH` points);
* edges on the best head-tail paths (:mod:`kgif.explanation.paths`) get a wide gold halo
  (:data:`PATH_COLOUR`);
* nodes are coloured by entity kind (:func:`kind_colours`, in the order of ``kg.kinds``, so
  a kind keeps its colour across figures of one graph; grey when unknown) with a legend; the
  test head and tail are larger and outlined in black;
* nodes are labelled by their full display name, wrapped onto lines of at most ``wrap``
  characters (:func:`wrap_name`; never cut); node labels are pushed apart until no two overlap
  (:func:`_separate_labels`), a label moved away from its node keeping a thin leader line;
* every edge carries a number (1 = the test edge) in a small circle on its own arc, at the first
  place along it clear of labels, nodes and other numbers; parallel edges between one pair of
  nodes fan out as arcs and so carry their numbers apart. The legend right of the drawing
  lists entity kinds, the edge encoding, and each number's relation and TracIn influence
  (:func:`edge_legend_entries`).

matplotlib and networkx are the optional extra ``kgif[plot]``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from functools import partial
from pathlib import Path
from typing import Any, cast

from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation
from kgif.explanation.network import Subgraph, explanation_subgraph

__all__ = ["NEGATIVE_COLOUR", "PATH_COLOUR", "POSITIVE_COLOUR", "TEST_EDGE_STYLE",
           "UNKNOWN_KIND_COLOUR", "edge_legend_entries", "kind_colours", "layout",
           "plot_explanation", "wrap_name", "write_figures"]

logger = logging.getLogger(__name__)

#: Edge colour for influence >= 0 (the edge pushed the test triple's score up).
POSITIVE_COLOUR = "#2166ac"
#: Edge colour for influence < 0.
NEGATIVE_COLOUR = "#d6604d"
#: Halo under the edges of the highlighted head-tail paths.
PATH_COLOUR = "#f4b400"
#: Node colour when the graph has no kind for an entity.
UNKNOWN_KIND_COLOUR = "#bdbdbd"
#: The test edge: colour, line style, width (points).
TEST_EDGE_STYLE: dict[str, Any] = {"color": "#000000", "linestyle": "--", "linewidth": 3.5}
#: Training-edge widths (points) for the smallest and largest |influence| in the figure.
MIN_WIDTH, MAX_WIDTH = 0.8, 5.0


def _matplotlib():
    try:
        import matplotlib
        import networkx  # noqa: F401 - checked here so the message names the extra
    except ImportError as error:
        raise ImportError("kgif.explanation.plot needs matplotlib and networkx: "
                          "pip install 'kgif[plot]'") from error
    return matplotlib


#: A name's pieces for :func:`wrap_name`: runs of spaces, or a word with the ``_``, ``-`` or
#: ``/`` that ends it (lines may break after these, as in ``pharmacologic_`` / ``substance``).
_PIECES = re.compile(r"\s+|[^\s_/-]+[_/-]*|[_/-]+")


def wrap_name(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters, broken at spaces, ``_``, ``-``, ``/``.

    Every character is kept (a word longer than ``width`` is split across lines; runs of
    spaces become one space or a line break): ``"".join(wrap_name(t, w).split())`` equals
    ``"".join(t.split())``.

    Raises:
        ValueError: if ``width`` < 1.
    """
    if width < 1:
        raise ValueError(f"wrap_name: width={width}, expected at least 1")
    lines, line = [], ""
    for piece in _PIECES.findall(text):
        if piece.isspace():
            line += " " if line and not line.endswith(" ") else ""
            continue
        while len(piece) > width:  # a word longer than a line: split it
            if line.strip():
                lines.append(line.rstrip())
            lines.append(piece[:width])
            line, piece = "", piece[width:]
        if len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = ""
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


#: ``tab20`` entries used for kinds: no blue and no red (the edge-sign colours), no grey
#: (unknown kind); dark shades first, then the light ones.
_KIND_SHADES = (2, 4, 8, 10, 12, 16, 18, 3, 5, 9, 11, 13, 17, 19)


def kind_colours(kg: KnowledgeGraph) -> dict[str, str]:
    """Kind -> hex colour, in the sorted order of ``kg.kinds``.

    The 14 ``tab20`` shades that are neither blue, red nor grey (so node colours never read as
    edge signs), repeating after 14 kinds; ``""`` (unknown) -> :data:`UNKNOWN_KIND_COLOUR`.
    """
    matplotlib = _matplotlib()
    cmap = matplotlib.colormaps["tab20"]
    colours = {kind: matplotlib.colors.to_hex(cmap(_KIND_SHADES[i % len(_KIND_SHADES)]))
               for i, kind in enumerate(kg.kinds)}
    return colours | {"": UNKNOWN_KIND_COLOUR}


def layout(sub: Subgraph, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Node positions: a spring layout with the test head on the left and the tail on the right.

    ``networkx.spring_layout`` (Fruchterman-Reingold) with a fixed ``seed`` on the undirected
    simple graph of the subgraph plus weak (weight :data:`_TETHER`) edges from every node to the
    test head and tail, so that parts not connected to them stay near the test edge. The
    result is turned so that the head lies left of the tail, scaled to about [-1, 1], its
    crowded centre spread out (:func:`_spread_centre`: the test edge's neighbours, where the
    hubs are), and nodes closer than :func:`_min_distance` are pushed apart. The same
    subgraph always gets the same positions.

    Returns:
        Node id -> (x, y).
    """
    import networkx as nx

    head, tail = sub.edges[0]["source"], sub.edges[0]["target"]
    graph = nx.Graph()
    graph.add_nodes_from(node["id"] for node in sub.nodes)
    for node in sub.nodes:
        for end in (head, tail):
            if node["id"] != end:
                graph.add_edge(node["id"], end, weight=_TETHER)
    for e in sub.edges:
        if e["source"] != e["target"]:
            graph.add_edge(e["source"], e["target"], weight=1.0)
    pos = nx.spring_layout(graph, seed=seed, iterations=300, weight="weight")
    xy = _orient({n: (float(x), float(y)) for n, (x, y) in pos.items()}, head, tail)
    return _push_apart(_spread_centre(xy), _min_distance(len(xy)))


#: Weight of the layout-only edges tying every node to the test head and tail.
_TETHER = 0.05


def _spread_centre(pos: dict, inner: float = 0.6, power: float = 0.4) -> dict:
    """Move every node within radius ``inner`` of the origin (the head-tail midpoint) out to
    ``inner * (r / inner) ** power`` along its ray; nodes further out keep their place.

    The spring layout packs the test edge's many direct neighbours (hubs: a disease with all
    its drugs) into a small disc while it spreads the weakly tethered other parts over the
    whole drawing; this gives the centre the room its labels and edge numbers need without
    moving, or squeezing, the periphery. Monotone in r, so the order of radii is kept.
    """
    out = {}
    for node, (x, y) in pos.items():
        r = math.hypot(x, y)
        scale = (inner * (r / inner) ** power) / r if 0.0 < r < inner else 1.0
        out[node] = (x * scale, y * scale)
    return out


def _min_distance(n: int) -> float:
    """Smallest node spacing (layout units, the layout spans about [-1, 1])."""
    return min(0.35, 1.1 / math.sqrt(max(n, 1)))


def _orient(pos: dict, head: str, tail: str) -> dict:
    """Rotate about the head-tail midpoint so the tail is right of the head; scale to ~[-1, 1]."""
    (hx, hy), (tx, ty) = pos[head], pos[tail]
    cx, cy = (hx + tx) / 2, (hy + ty) / 2
    angle = math.atan2(ty - hy, tx - hx) if head != tail else 0.0
    c, s = math.cos(-angle), math.sin(-angle)
    turned = {n: ((x - cx) * c - (y - cy) * s, (x - cx) * s + (y - cy) * c)
              for n, (x, y) in pos.items()}
    scale = max((max(abs(x), abs(y)) for x, y in turned.values()), default=1.0) or 1.0
    return {n: (x / scale, y / scale) for n, (x, y) in turned.items()}


def _push_apart(pos: dict, minimum: float, rounds: int = 100) -> dict:
    """Move nodes closer than ``minimum`` apart along the line joining them (deterministic)."""
    names = sorted(pos)
    xy = {n: list(pos[n]) for n in names}
    for _ in range(rounds):
        moved = False
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                dx, dy = xy[b][0] - xy[a][0], xy[b][1] - xy[a][1]
                dist = math.hypot(dx, dy)
                if dist >= minimum:
                    continue
                moved = True
                ux, uy = (dx / dist, dy / dist) if dist > 1e-12 else (1.0, 0.0)
                step = (minimum - dist) / 2
                xy[a][0] -= ux * step
                xy[a][1] -= uy * step
                xy[b][0] += ux * step
                xy[b][1] += uy * step
        if not moved:
            break
    return {n: (x, y) for n, (x, y) in xy.items()}


def _widths(sub: Subgraph) -> list[float]:
    size = [abs(e["influence"]) for e in sub.edges[1:]]
    top = max(size, default=0.0) or 1.0
    return [MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * s / top for s in size]


def _arc(sub: Subgraph) -> list[float]:
    """Curvature per edge so that parallel edges between one pair of nodes fan out."""
    groups: dict[frozenset, list[int]] = {}
    for i, e in enumerate(sub.edges):
        groups.setdefault(frozenset((e["source"], e["target"])), []).append(i)
    rad = [0.0] * len(sub.edges)
    for members in groups.values():
        for j, i in enumerate(members):
            offset = 0.18 * (j - (len(members) - 1) / 2)
            e = sub.edges[i]
            rad[i] = offset if e["source"] <= e["target"] else -offset
    return rad


def _draw_edges(ax, sub: Subgraph, pos: dict, node_size: float) -> None:
    from matplotlib.patches import FancyArrowPatch

    widths = [TEST_EDGE_STYLE["linewidth"]] + _widths(sub)
    for edge, width, rad in zip(sub.edges, widths, _arc(sub), strict=True):
        common: dict[str, Any] = {"posA": pos[edge["source"]], "posB": pos[edge["target"]],
                                  "connectionstyle": f"arc3,rad={rad}", "shrinkA": node_size,
                                  "shrinkB": node_size}
        if edge["on_path"]:
            halo = FancyArrowPatch(arrowstyle="-", color=PATH_COLOUR, linewidth=width + 7,
                                   alpha=0.55, zorder=1, **common)
            halo.set_gid(f"path-halo:{edge['id']}")
            ax.add_patch(halo)
        style = (dict(TEST_EDGE_STYLE) if edge["role"] == "test" else
                 {"color": _edge_colour(edge), "linestyle": "-", "linewidth": width})
        arrow = FancyArrowPatch(arrowstyle="-|>",
                                mutation_scale=min(8 + 2 * style["linewidth"], 15),
                                zorder=3 if edge["role"] == "test" else 2, **style, **common)
        arrow.set_gid(f"edge:{edge['id']}")
        ax.add_patch(arrow)


def _draw_nodes(ax, sub: Subgraph, pos: dict, colours: dict, node_size: float) -> None:
    by_kind: dict[str, list[dict]] = {}
    for node in sub.nodes:
        by_kind.setdefault(node["kind"], []).append(node)
    for kind in sorted(by_kind, key=lambda x: (x == "", x)):
        nodes = by_kind[kind]
        big = [n["role"] != "context" for n in nodes]
        artist = ax.scatter([pos[n["id"]][0] for n in nodes], [pos[n["id"]][1] for n in nodes],
                            s=[(node_size * (1.6 if b else 1.0)) ** 2 for b in big],
                            c=colours.get(kind, UNKNOWN_KIND_COLOUR),
                            edgecolors=["black" if b else "white" for b in big],
                            linewidths=[2.0 if b else 0.8 for b in big], zorder=4,
                            label=kind or "(no kind)")
        artist.set_gid(f"nodes:{kind}")


def _draw_labels(ax, sub: Subgraph, pos: dict, wrap: int, fontsize: float,
                 node_size: float) -> list:
    """One label above each node (full name, wrapped), with a leader line once pushed away."""
    texts = []
    for node in sub.nodes:
        x, y = pos[node["id"]]
        big = node["role"] != "context"
        radius = node_size * (1.6 if big else 1.0) / 2
        text = ax.annotate(wrap_name(node["name"], wrap), (x, y), xytext=(0, radius + 1),
                           textcoords="offset points", ha="center", va="bottom",
                           fontsize=fontsize, fontweight="bold" if big else "normal", zorder=6,
                           linespacing=1.0,
                           bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                 "alpha": 0.85},
                           arrowprops={"arrowstyle": "-", "color": "#737373", "lw": 0.5,
                                       "shrinkA": 0, "shrinkB": radius})
        text.set_gid(f"label:{node['id']}")
        texts.append(text)
    return texts


def _arc_point(ax, start, end, rad: float, t: float) -> tuple[float, float]:
    """Display coordinates of the point at parameter ``t`` of matplotlib's ``arc3,rad=rad``.

    ``arc3`` is a quadratic Bezier curve whose control point lies, in display coordinates, at
    the chord's middle plus ``rad * (dy, -dx)``.
    """
    (x0, y0), (x1, y1) = ax.transData.transform([start, end])
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    u = 1 - t
    return (u * u * x0 + 2 * u * t * cx + t * t * x1, u * u * y0 + 2 * u * t * cy + t * t * y1)


#: Places tried, in order, for an edge's number along its arc (Bezier parameter).
_ALONG = (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8)


def _free_spot(ax, edge: dict, rad: float, pos: dict, size: float, taken: list) -> tuple:
    """The first point of :data:`_ALONG` whose ``size``-pixel box overlaps no box in ``taken``
    (else the one overlapping least); display coordinates."""
    from matplotlib.transforms import Bbox

    best, best_overlap = None, math.inf
    for t in _ALONG:
        if edge["source"] == edge["target"]:
            x, y = ax.transData.transform(pos[edge["source"]])
        else:
            x, y = _arc_point(ax, pos[edge["source"]], pos[edge["target"]], rad, t)
        box = Bbox.from_bounds(x - size / 2, y - size / 2, size, size)
        overlap = sum(max(0.0, min(box.x1, o.x1) - max(box.x0, o.x0))
                      * max(0.0, min(box.y1, o.y1) - max(box.y0, o.y0)) for o in taken)
        if overlap < best_overlap:
            best, best_overlap = (x, y, box), overlap
        if overlap == 0:
            break
    return cast(tuple, best)  # set on the first try: _ALONG is not empty


def _draw_edge_labels(ax, sub: Subgraph, pos: dict, fontsize: float, taken: list) -> list:
    """Edge number ``n`` (1 = the test edge) on each edge's arc, in the edge's colour.

    The numbers are short, so they stay legible where many edges cross; each sits at the first
    place along its own arc (:data:`_ALONG`) that is clear of the boxes in ``taken`` (node
    labels and markers, earlier numbers), so parallel edges, whose arcs fan out, carry their
    numbers apart. :func:`_edge_legend` names each number's relation and influence.
    """
    points = ax.figure.dpi / 72.0
    size = 2.2 * fontsize * points  # the circle around a two-digit number, pixels
    inverse = ax.transData.inverted()
    texts = []
    for n, (edge, rad) in enumerate(zip(sub.edges, _arc(sub), strict=True), start=1):
        x, y, box = _free_spot(ax, edge, rad, pos, size, taken)
        taken.append(box)
        colour = _edge_colour(edge)
        text = ax.text(*inverse.transform((x, y)), str(n), ha="center", va="center",
                       fontsize=fontsize, fontweight="bold", color=colour, zorder=5,
                       bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "ec": colour,
                             "lw": 0.6})
        text.set_gid(f"edge-label:{edge['id']}")
        texts.append(text)
    return texts


def edge_legend_entries(sub: Subgraph) -> list[str]:
    """One line per edge number: ``"3  binds to  +0.0123"`` (influence; ``test edge`` for 1)."""
    lines = []
    for n, edge in enumerate(sub.edges, start=1):
        value = "test edge" if edge["role"] == "test" else f"{edge['influence']:+.3g}"
        lines.append(f"{n}  {edge['relation_name']}  {value}")
    return lines


def _obstacles(fig, ax, texts: list, pos: dict, node_size: float) -> list:
    """Display boxes of the node labels and node markers, for placing the edge numbers."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    radius = 1.6 * node_size / 2 * fig.dpi / 72.0
    boxes = [Text.get_window_extent(t, renderer) for t in texts]
    for xy in pos.values():
        x, y = ax.transData.transform(xy)
        boxes.append(Bbox.from_bounds(x - radius, y - radius, 2 * radius, 2 * radius))
    return boxes


def _edge_colour(edge: dict) -> str:
    if edge["role"] == "test":
        return TEST_EDGE_STYLE["color"]
    return POSITIVE_COLOUR if edge["influence"] >= 0 else NEGATIVE_COLOUR


def _separate_labels(fig, texts: list, rounds: int = 200) -> int:
    """Push overlapping labels apart (display coordinates) until none overlap.

    A deterministic relaxation: in each round every overlapping pair moves apart along the
    axis of its smaller overlap, each label by half that overlap plus one pixel.

    Returns:
        The number of overlapping pairs left (0 unless ``rounds`` ran out).
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    points = fig.dpi / 72.0
    starts = [tuple(t.xyann) for t in texts]
    left = 0
    for _ in range(rounds):
        # text only (no leader line), padded by the white box drawn around it
        boxes = [Text.get_window_extent(t, renderer).padded(2 * points) for t in texts]
        shift = [[0.0, 0.0] for _ in texts]
        left = 0
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                a, b = boxes[i], boxes[j]
                dx = min(a.x1, b.x1) - max(a.x0, b.x0)
                dy = min(a.y1, b.y1) - max(a.y0, b.y0)
                if dx <= 0 or dy <= 0:
                    continue
                left += 1
                ax_, ay_ = (a.x0 + a.x1) / 2, (a.y0 + a.y1) / 2
                bx_, by_ = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
                if dy <= dx:  # the cheaper way out: vertical
                    step = (dy / 2 + 1) / points  # display pixels -> points
                    sign = 1.0 if (ay_, -i) >= (by_, -j) else -1.0
                    shift[i][1] += sign * step
                    shift[j][1] -= sign * step
                else:
                    step = (dx / 2 + 1) / points
                    sign = 1.0 if (ax_, -i) >= (bx_, -j) else -1.0
                    shift[i][0] += sign * step
                    shift[j][0] -= sign * step
        if not left:
            break
        for text, (sx, sy) in zip(texts, shift, strict=True):
            x, y = text.xyann
            text.xyann = (x + sx, y + sy)
    for text, start in zip(texts, starts, strict=True):
        if math.dist(text.xyann, start) < 3:  # not moved: no leader line
            text.arrowprops = None
            text.arrow_patch = None
    return left


def _header(text: str):
    from matplotlib.lines import Line2D

    header = Line2D([], [], linestyle="", label=text)
    header.kgif_header = True  # type: ignore[attr-defined]  # our marker: a bold legend title
    return header


def _legend(ax, sub: Subgraph, colours: dict, fontsize: float) -> None:
    """One legend right of the drawing, in three sections: entity kinds, edge encoding, and
    every edge number with its relation and TracIn influence (:func:`edge_legend_entries`).

    A single legend (the Axes' own) so that constrained layout makes room for it.
    """
    from matplotlib.lines import Line2D

    present = sorted({n["kind"] for n in sub.nodes}, key=lambda x: (x == "", x))
    handles = [_header("entity kind")]
    handles += [Line2D([], [], marker="o", linestyle="", markersize=8, markeredgecolor="white",
                       markerfacecolor=colours.get(kind, UNKNOWN_KIND_COLOUR),
                       label=kind or "(no kind)") for kind in present]
    handles += [_header("edges (width: |influence|)"),
                Line2D([], [], **TEST_EDGE_STYLE, label="test edge (predicted)"),
                Line2D([], [], color=POSITIVE_COLOUR, lw=3, label="influence > 0 (proponent)"),
                Line2D([], [], color=NEGATIVE_COLOUR, lw=3, label="influence < 0 (opponent)")]
    if any(e["on_path"] for e in sub.edges):
        handles.append(Line2D([], [], color=PATH_COLOUR, lw=8, alpha=0.55,
                              label="best head-tail paths"))
    handles.append(_header("edge number: relation, influence"))
    handles += [Line2D([], [], color=_edge_colour(e), lw=2,
                       linestyle="--" if e["role"] == "test" else "-", label=line)
                for e, line in zip(sub.edges, edge_legend_entries(sub), strict=True)]
    rows = max(int(ax.figure.get_figheight() * 72 / (1.8 * fontsize)) - 2, 8)  # fit the height
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                       fontsize=fontsize, ncols=math.ceil(len(handles) / rows),
                       handlelength=1.6, frameon=False)
    for handle, text in zip(handles, legend.get_texts(), strict=True):
        if getattr(handle, "kgif_header", False):
            text.set_fontweight("bold")
    legend.set_gid("legend")


def _title(sub: Subgraph, kg: KnowledgeGraph, explanation: Explanation, width: int) -> str:
    h, r, t = sub.triple
    note = ("" if explanation.self_influence is None
            else f"  (self-influence {explanation.self_influence:.3g})")
    counts = {role: sum(e["role"] == role for e in sub.edges)
              for role in ("proponent", "opponent")}
    edge = f"{kg.entity_name(h)} \u2014{kg.relation_name(r)}\u2192 {kg.entity_name(t)}{note}"
    return (f"{wrap_name(edge, width)}\n"
            f"{counts['proponent']} proponents, {counts['opponent']} opponents (TracIn)")


def plot_explanation(explanation: Explanation, kg: KnowledgeGraph, k: int = 20, paths=None,
                     ax=None, *, n_paths: int = 3, figsize: tuple[float, float] = (14, 10),
                     wrap: int = 18, fontsize: float = 8, seed: int = 0,
                     train_triples=None, title: str | None = None):
    """Draw one explanation as a network (see the module docstring for the encoding).

    Args:
        explanation: one test triple's :class:`~kgif.explanation.explanation.Explanation`.
        kg: the graph it refers to (display names, kinds).
        k: proponents and opponents each to draw.
        paths: optional :class:`~kgif.explanation.paths.RankedPaths` of the test triple; the best
            ``n_paths`` are emphasised.
        ax: draw into this matplotlib Axes; default a new Figure of ``figsize`` inches.
        n_paths: paths to emphasise.
        figsize: (width, height) inches of a new figure.
        wrap: node labels are full display names on lines of at most this many characters.
        fontsize: node label size (points); relation labels on edges are one point smaller.
        seed: spring-layout seed.
        train_triples: rows ``train_index`` refers to (default ``kg.training``).
        edge_labels: write each training edge's relation label at its middle.
        title: replaces the second title line (default: the proponent and opponent counts).

    Returns:
        The :class:`matplotlib.figure.Figure` (a :class:`kgif.explanation.figure.NotebookFigure`
        when it made one: returned from a notebook cell it shows as a PNG). Artists carry gids:
        ``edge:<id>`` (edge ids of :func:`kgif.explanation.network.explanation_subgraph`),
        ``path-halo:<id>``, ``nodes:<kind>``,
        ``label:<entity label>``, ``edge-label:<id>`` (the relation name on each edge),
        ``legend:kinds`` and ``legend:edges``.

    Raises:
        ImportError: without matplotlib or networkx (``pip install 'kgif[plot]'``).
        ValueError: if ``wrap`` < 1, or as
            :func:`kgif.explanation.network.explanation_subgraph`.
    """
    matplotlib = _matplotlib()
    from kgif.explanation.figure import new_figure

    # names are plain text: '$a$' is drawn as '$a$', never parsed as mathtext
    with matplotlib.rc_context({"text.parse_math": False}):
        sub = explanation_subgraph(explanation, kg, k, paths, n_paths=n_paths,
                                   train_triples=train_triples)
        if ax is None:
            ax = new_figure(figsize, layout="constrained").add_subplot()
        fig = ax.figure
        pos = layout(sub, seed)
        node_size = 14.0
        _draw_edges(ax, sub, pos, node_size)
        colours = kind_colours(kg)
        _draw_nodes(ax, sub, pos, colours, node_size)
        texts = _draw_labels(ax, sub, pos, wrap, fontsize, node_size)
        _legend(ax, sub, colours, fontsize)
        width = max(int(fig.get_figwidth() * 4.5), 20)  # 11-point characters over the drawing
        heading = _title(sub, kg, explanation, width)
        if title is not None:  # a subtitle in place of the default second line
            heading = heading.split("\n")[0] + "\n" + title
        ax.set_title(heading, fontsize=11)
        ax.set_axis_off()
        ax.margins(x=0.08, y=0.16)  # room above the top nodes for their (wrapped) labels
        fig.canvas.draw()  # fixes the data -> display transform the labels are placed with
        if _separate_labels(fig, texts):
            logger.warning("plot_explanation: some node labels still overlap; try a larger "
                           "figsize or a smaller fontsize")
        _draw_edge_labels(ax, sub, pos, fontsize - 1, _obstacles(fig, ax, texts, pos, node_size))
    return fig


def write_figures(explanation: Explanation, kg: KnowledgeGraph, stem: str | os.PathLike,
                  paths=None, *, k: int = 20, formats: tuple[str, ...] = ("png", "svg"),
                  dpi: int = 150, **options) -> list[Path]:
    """Draw :func:`plot_explanation` and write ``<stem>.png`` and ``<stem>.svg`` (atomic).

    The files hold no dates and SVG ids come from a fixed salt, so the same explanation gives
    the same bytes (a resumed batch run rewrites identical files).

    Args:
        explanation, kg, paths, k: as :func:`plot_explanation`.
        stem: output path without suffix (e.g. a batch run's per-triple stem).
        formats: file formats, among ``png``, ``svg``, ``pdf``.
        dpi: resolution of raster formats.
        **options: further keyword arguments of :func:`plot_explanation`.

    Returns:
        The paths written, in ``formats`` order.

    Raises:
        ValueError: on an unsupported format.
    """
    from kgif._io import atomic_write

    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad:
        raise ValueError(f"write_figures: formats {bad} not supported (png, svg, pdf)")
    import matplotlib

    fig = plot_explanation(explanation, kg, k, paths, **options)
    written = []
    for fmt in formats:
        path = Path(f"{os.fspath(stem)}.{fmt}")
        with matplotlib.rc_context({"svg.hashsalt": "kgif"}):  # fixed SVG ids
            written.append(atomic_write(path, partial(fig.savefig, format=fmt, dpi=dpi,
                                                      metadata=_metadata(fmt))))
    return written


def _metadata(fmt: str) -> dict:
    """No creation dates, so the same explanation gives the same bytes."""
    return {"png": {"Software": None}, "svg": {"Date": None},
            "pdf": {"CreationDate": None}}[fmt]

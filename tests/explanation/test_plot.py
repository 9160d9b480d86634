"""Explanation figures: what the artists encode, determinism, readable labels, files."""

from __future__ import annotations

import dataclasses
import itertools
import math
import struct
import xml.etree.ElementTree as ET

import pytest
from figure_helpers import explained
from matplotlib.colors import to_hex
from matplotlib.text import Text

from kgif.data.build import from_label_triples
from kgif.explanation.explanation import Explanation, Influence
from kgif.explanation.network import explanation_subgraph
from kgif.explanation.plot import (
    MAX_WIDTH,
    MIN_WIDTH,
    NEGATIVE_COLOUR,
    PATH_COLOUR,
    POSITIVE_COLOUR,
    TEST_EDGE_STYLE,
    edge_legend_entries,
    kind_colours,
    plot_explanation,
    wrap_name,
    write_figures,
)


def _by_gid(fig, prefix: str) -> dict:
    ax = fig.axes[0]
    artists = list(ax.patches) + list(ax.collections) + list(ax.texts) + list(ax.artists)
    return {a.get_gid()[len(prefix):]: a for a in artists
            if a.get_gid() and a.get_gid().startswith(prefix)}


def _edges_by_row(ex: Explanation) -> dict[int, Influence]:
    return {inf.train_index: inf for inf in ex.influences}


def test_edges_coloured_by_sign_and_test_edge_styled():
    kg, _, explanations, paths = explained(k=4)
    ex = explanations[0]
    assert ex.proponents[0].influence > 0 > ex.opponents[0].influence  # both signs drawn
    fig = plot_explanation(ex, kg, k=4, paths=paths[0])
    arrows = _by_gid(fig, "edge:")
    rows = _edges_by_row(ex)
    assert len(arrows) == 1 + len(rows | {r: 0 for p in paths[0].paths[:3] for r in p.edges})
    test = arrows["e0"]
    assert to_hex(test.get_edgecolor()) == TEST_EDGE_STYLE["color"]
    assert test.get_linestyle() == "--" and test.get_linewidth() == TEST_EDGE_STYLE["linewidth"]
    head, tail = test._posA_posB  # the test edge joins the head and tail nodes
    labels = {k: a.xy for k, a in _by_gid(fig, "label:").items()}
    h, _, t = ex.triple
    assert (head, tail) == (labels[kg.entity_label(h)], labels[kg.entity_label(t)])
    top = max(abs(inf.influence) for inf in ex.influences)
    seen = 0
    for arrow in arrows.values():
        if arrow is test:
            continue
        a, b = arrow._posA_posB
        src = next(k for k, xy in labels.items() if xy == a)
        inf = next((x for x in ex.influences if kg.entity_label(x.triple[0]) == src
                    and labels[kg.entity_label(x.triple[2])] == b), None)
        if inf is None:  # a path-only edge
            continue
        seen += 1
        colour = POSITIVE_COLOUR if inf.influence >= 0 else NEGATIVE_COLOUR
        assert to_hex(arrow.get_edgecolor()) == colour
        assert arrow.get_linestyle() == "-"
        width = MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * abs(inf.influence) / top
        assert arrow.get_linewidth() == pytest.approx(width, rel=1e-6)
    assert seen == len(rows)


def test_path_edges_have_halos():
    kg, _, explanations, paths = explained(k=2)
    fig = plot_explanation(explanations[0], kg, k=2, paths=paths[0], n_paths=2)
    halos = _by_gid(fig, "path-halo:")
    rows = {r for p in paths[0].paths[:2] for r in p.edges}
    assert len(halos) == len(rows) > 0
    assert {to_hex(h.get_edgecolor()) for h in halos.values()} == {PATH_COLOUR}
    no_paths = plot_explanation(explanations[0], kg, k=2)
    assert not _by_gid(no_paths, "path-halo:")


def test_labels_are_display_names_and_legend_lists_kinds():
    kg, _, explanations, _ = explained(k=3)
    ex = explanations[2]
    fig = plot_explanation(ex, kg, k=3, wrap=18)
    entities = {ex.triple[0], ex.triple[2]} | {
        e for inf in ex.influences for e in (inf.triple[0], inf.triple[2])}
    texts = {k: a.get_text() for k, a in _by_gid(fig, "label:").items()}
    # full names, never cut: "entity number 7 with a long display name" on lines of <= 18
    assert texts == {kg.entity_label(e): wrap_name(kg.entity_name(e), 18) for e in entities}
    assert all(" ".join(texts[kg.entity_label(e)].split()) == kg.entity_name(e)
               for e in entities)
    assert all(len(line) <= 18 for x in texts.values() for line in x.split("\n"))
    assert texts[kg.entity_label(ex.triple[0])].split("\n") == [
        "entity number 2", "with a long", "display name"]
    legend = fig.axes[0].get_legend()
    assert legend.get_gid() == "legend"
    lines = [t.get_text() for t in legend.get_texts()]
    kinds = sorted({kg.entity_kind(e) for e in entities})
    assert lines[:1 + len(kinds)] == ["entity kind", *kinds]
    bold = [t.get_text() for t in legend.get_texts() if t.get_fontweight() == "bold"]
    assert bold == ["entity kind", "edges (width: |influence|)",
                    "edge number: relation, influence"]
    colours = kind_colours(kg)
    for kind, collection in _by_gid(fig, "nodes:").items():
        assert {to_hex(c) for c in collection.get_facecolors()} == {colours[kind]}
    assert len(set(colours.values())) == len(colours)


def test_layout_is_deterministic_and_labels_do_not_overlap():
    kg, _, explanations, paths = explained(k=20)  # every candidate: a dense figure
    figures = [plot_explanation(explanations[0], kg, k=20, paths=paths[0]) for _ in range(2)]
    label_sets = [_by_gid(f, "label:") for f in figures]
    assert {k: a.xy for k, a in label_sets[0].items()} == {
        k: a.xy for k, a in label_sets[1].items()}
    assert {k: a.xyann for k, a in label_sets[0].items()} == {
        k: a.xyann for k, a in label_sets[1].items()}
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in label_sets[0].values()]
    assert len(boxes) == kg.num_entities
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


def test_write_figures_png_and_svg(tmp_path):
    kg, _, explanations, paths = explained(k=3)
    ex = explanations[0]
    written = write_figures(ex, kg, tmp_path / "t0", paths[0], k=3, dpi=50)
    assert [p.name for p in written] == ["t0.png", "t0.svg"]
    png = written[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (14 * 50, 10 * 50)
    svg = ET.parse(written[1]).getroot()
    assert svg.tag.endswith("svg")
    # SVG text is drawn as glyph paths; the names are kept as comments of each text group
    text = written[1].read_text(encoding="utf-8")
    assert all(line in text for line in wrap_name(kg.entity_name(ex.triple[0]), 18).split("\n"))
    again = write_figures(ex, kg, tmp_path / "t1", paths[0], k=3, dpi=50)
    assert again[0].read_bytes() == png
    assert again[1].read_bytes() == written[1].read_bytes()
    with pytest.raises(ValueError, match="jpeg"):
        write_figures(ex, kg, tmp_path / "bad", formats=("jpeg",))


def test_graph_without_kinds_or_names():
    kg = from_label_triples([("a", "r", "b"), ("b", "r", "c")], test=[("a", "r", "c")])
    ex = Explanation((0, 0, 2), None, [Influence(0, (0, 0, 1), 0.0, None, "proponent", 1)],
                     [Influence(1, (1, 0, 2), -1.0, None, "opponent", 1)])
    fig = plot_explanation(ex, kg)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["entity kind", "(no kind)"]
    assert legend[-3:] == ["1  r  test edge", "2  r  +0", "3  r  -1"]
    assert {a.get_text() for a in _by_gid(fig, "label:").values()} == {"a", "b", "c"}
    arrows = _by_gid(fig, "edge:")
    assert to_hex(arrows["e1"].get_edgecolor()) == POSITIVE_COLOUR  # 0 counts as >= 0
    assert to_hex(arrows["e2"].get_edgecolor()) == NEGATIVE_COLOUR


def test_plot_needs_the_extra(monkeypatch):
    kg, _, explanations, _ = explained(k=2)
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"kgif\[plot\]"):
        plot_explanation(explanations[0], kg)


def test_draws_into_a_given_axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kg, _, explanations, _ = explained(k=2)
    fig = Figure(figsize=(12, 5))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    assert plot_explanation(explanations[0], kg, k=2, ax=right) is fig
    assert not left.patches and right.patches
    assert {a.get_gid() for a in right.patches} >= {"edge:e0"}


def test_wrap_name_keeps_every_character():
    assert wrap_name("Acetylsalicylic acid", 10) == "Acetylsali\ncylic acid"
    assert wrap_name("short", 18) == "short"
    assert wrap_name("a b c", 1) == "a\nb\nc"
    assert wrap_name("", 5) == ""
    assert wrap_name("therapeutic_or_preventive_procedure", 18) == (
        "therapeutic_or_\npreventive_\nprocedure")
    assert wrap_name("HMG-CoA reductase inhibitor", 10) == "HMG-CoA\nreductase\ninhibitor"
    with pytest.raises(ValueError, match="width=0"):
        wrap_name("x", 0)


def test_parallel_edges_carry_distinct_numbers_and_relations():
    """Three edges between one pair (two directions, three relations): each gets its own
    number on its own arc, and the legend names its relation and influence."""
    rows = [("a", "binds", "b"), ("a", "inhibits", "b"), ("b", "regulates", "a"),
            ("b", "binds", "c"), ("d", "treats", "b")]
    kg = from_label_triples(rows, test=[("a", "treats", "c")])
    long = "a compound with a very long name that must never be cut short"
    kg = dataclasses.replace(kg, entity_names={kg.entity_to_id["a"]: long})
    rel = kg.relation_to_id
    ex = Explanation((0, rel["treats"], 2), None, [
        Influence(0, (0, rel["binds"], 1), 0.5, None, "proponent", 1),
        Influence(1, (0, rel["inhibits"], 1), 0.25, None, "proponent", 2),
        Influence(2, (1, rel["regulates"], 0), 0.125, None, "proponent", 3)],
        [Influence(3, (1, rel["binds"], 2), -1.0, None, "opponent", 1)])
    fig = plot_explanation(ex, kg, figsize=(8, 5))
    numbers = _by_gid(fig, "edge-label:")
    assert {k: a.get_text() for k, a in numbers.items()} == {
        "e0": "1", "e1": "2", "e2": "3", "e3": "4", "e4": "5"}
    spots = [numbers[e].get_position() for e in ("e1", "e2", "e3")]  # the three a-b edges
    assert len(set(spots)) == 3
    assert edge_legend_entries(explanation_subgraph(ex, kg)) == [
        "1  treats  test edge", "2  binds  +0.5", "3  inhibits  +0.25", "4  regulates  +0.125",
        "5  binds  -1"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[-5:] == edge_legend_entries(explanation_subgraph(ex, kg))
    head = _by_gid(fig, "label:")["a"].get_text()
    assert " ".join(head.split()) == long
    assert long in fig.axes[0].get_title().replace("\n", " ")
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer)
             for t in list(_by_gid(fig, "label:").values()) + list(numbers.values())]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


def test_notebook_size_keeps_every_label_and_number_apart_and_inside():
    """At a notebook's 10 x 7 inches and k=10 (23 edges): no node label or edge number
    overlaps another, and the title, labels and legend stay inside the figure."""
    kg, _, explanations, paths = explained(k=10)
    fig = plot_explanation(explanations[0], kg, k=10, paths=paths[0], figsize=(10, 7))
    renderer = fig.canvas.get_renderer()
    texts = list(_by_gid(fig, "label:").values()) + list(_by_gid(fig, "edge-label:").values())
    assert len(_by_gid(fig, "edge-label:")) == 23
    boxes = [Text.get_window_extent(t, renderer) for t in texts]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    inside = fig.bbox
    ax = fig.axes[0]
    for artist in [ax.title, ax.get_legend(), *texts]:
        box = artist.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, artist
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, artist


def test_spread_centre_hand_computed():
    """Inside radius 0.6 a node moves out along its ray to 0.6 (r / 0.6) ** 0.4; outside, and
    at the origin, nothing moves; the order of radii is kept."""
    from kgif.explanation.plot import _spread_centre

    out = _spread_centre({"a": (0.15, 0.0), "b": (0.0, -0.3), "c": (0.48, 0.64), "o": (0.0, 0.0),
                          "d": (0.1, 0.1)})
    assert out["a"] == pytest.approx((0.6 * 0.25 ** 0.4, 0.0), rel=1e-12)
    assert out["b"] == pytest.approx((0.0, -0.6 * 0.5 ** 0.4), rel=1e-12)
    assert out["c"] == (0.48, 0.64) and out["o"] == (0.0, 0.0)  # r = 0.8: outside
    r = 2 ** 0.5 * 0.1
    assert out["d"] == pytest.approx((0.6 * (r / 0.6) ** 0.4 / 2 ** 0.5,) * 2, rel=1e-12)
    radii = [math.hypot(*out[n]) for n in ("o", "d", "a", "b", "c")]
    assert radii == sorted(radii)

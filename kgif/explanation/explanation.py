"""The :class:`Explanation` of a test triple and :func:`explain`, which computes it.

An :class:`Explanation` holds one test triple's proponents and opponents (training edges with
their TracIn scores and self-influence, as ids). A **proponent** has a positive TracIn score
(its training steps pushed the test triple's score up), an **opponent** a negative one; an edge
of score 0 is neither. Where fewer than k edges of a sign exist, fewer are returned (the k
largest and k smallest scores whatever their sign, Captum's selection, are
:meth:`kgif.influence.tracin.TracIn.top_influences`). :func:`explain` computes them with a
:class:`~kgif.influence.tracin.TracIn`. The writers that attach labels and names (JSON, CSV,
pandas, text) are in :mod:`kgif.explanation.tables`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import torch
from torch import Tensor

from kgif.data.graph import KnowledgeGraph, check_same_graph
from kgif.data.validate import check_triples
from kgif.influence.topk import KMostInfluentialResults, signed_topk
from kgif.influence.tracin import TracIn

__all__ = ["Explanation", "Influence", "check_graph", "explain", "explanation_html",
           "explanation_repr", "format_summary", "relation_summary"]

@dataclass
class Influence:
    """One training edge's influence on a test triple.

    Attributes:
        train_index: row of the training triples.
        triple: (head, relation, tail) ids (base relation id).
        influence: TracInCP score (units: learning rate x squared gradient norm).
        self_influence: the edge's own TracIn self-influence, or None if not computed.
        kind: ``"proponent"`` (influence > 0) or ``"opponent"`` (influence < 0).
        rank: 1-based rank within its kind.
    """

    train_index: int
    triple: tuple[int, int, int]
    influence: float
    self_influence: float | None
    kind: str
    rank: int


@dataclass
class Explanation:
    """Proponents (influence > 0, descending) and opponents (influence < 0, ascending) of one
    test triple (ids, base relation ids); each list holds at most k edges, fewer when fewer
    edges of that sign exist.

    ``graph`` is the :func:`kgif.data.graph.graph_fingerprint` of the graph the model was
    trained on (None when its checkpoints had no id maps); every writer checks it against the
    graph whose names it attaches (:func:`check_graph`). ``kg``, when set
    (``explain(..., kg=kg)``), gives the short ``repr`` and the notebook's HTML view
    (:func:`explanation_html`) names and kinds; it is not compared or saved.
    """

    triple: tuple[int, int, int]
    self_influence: float | None
    proponents: list[Influence] = field(default_factory=list)
    opponents: list[Influence] = field(default_factory=list)
    kg: KnowledgeGraph | None = field(default=None, repr=False, compare=False)
    graph: str | None = None  # graph_fingerprint of the model's graph (None: unknown)

    @property
    def influences(self) -> list[Influence]:
        return self.proponents + self.opponents

    def __repr__(self) -> str:
        return explanation_repr(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the test triple, a table of proponents and opponents with names,
        kinds and scores, and the proponents' relation summary (escaped HTML)."""
        return explanation_html(self)


def check_graph(explanations: Sequence[Explanation], kg: KnowledgeGraph, where: str) -> None:
    """Refuse explanations computed on a graph other than ``kg``
    (:func:`kgif.data.graph.check_same_graph`, once per distinct fingerprint)."""
    for fingerprint in dict.fromkeys(ex.graph for ex in explanations):
        check_same_graph(fingerprint, kg, where, "the explanations")


def _influences(result: KMostInfluentialResults, row: int, train: Tensor, kind: str,
                self_inf: dict[int, float]) -> list[Influence]:
    out = []
    for rank, (i, score) in enumerate(zip(result.indices[row].tolist(),
                                          result.influence_scores[row].tolist(), strict=True), 1):
        if i < 0:  # padding: fewer candidates (or edges of this sign) than k
            break
        out.append(Influence(int(i), tuple(train[i].tolist()), float(score), self_inf.get(i),
                             kind, rank))
    return out


def explain(tracin: TracIn, test_triples: Tensor, k: int = 10, *,
            train_triples: Tensor | None = None, candidates: Sequence[Tensor] | None = None,
            self_influence: bool = True, kg: KnowledgeGraph | None = None,
            top_lists: tuple[KMostInfluentialResults, KMostInfluentialResults] | None = None
            ) -> list[Explanation]:
    """Top-k proponents and opponents of each test triple, with self-influences.

    Proponents are the (at most) k edges of largest positive TracIn score, opponents the (at
    most) k of most negative score (:func:`kgif.influence.topk.signed_topk`); an explanation
    has fewer than k of a side when fewer edges have that sign.

    Args:
        tracin: the TracIn object (checkpoints, objectives, parameter subset).
        test_triples: (T, 3) int64 test triples (base relation ids).
        k: proponents and opponents per test triple.
        train_triples: (n, 3) training edges; default ``tracin.train_triples``.
        candidates: optional per-test-triple training-row ids (see :meth:`TracIn.influence`).
        self_influence: also compute the self-influence of the test triples and of every
            reported training edge (cost: one extra gradient per edge).
        kg: the graph, kept on each :class:`Explanation` so that it shows names and kinds in
            a notebook (optional).
        top_lists: ``(proponents, opponents)`` as :meth:`TracIn.top_influences` returns them
            for these test triples and ``k`` (e.g. merged from saved segments,
            :mod:`kgif.jobs.segments`); given, the pass over the training edges is skipped.

    Returns:
        One :class:`Explanation` per test triple, in input order.

    Raises:
        ValueError: ``test_triples`` or ``train_triples`` is not ``(n, 3)`` integer ids in
            range of the model (:func:`kgif.data.validate.check_triples`), or ``k < 1``.
    """
    test_triples = check_triples(test_triples, "kgif.explain", "test_triples",
                                 num_entities=tracin.num_entities,
                                 num_relations=tracin.num_relations, device="cpu")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"kgif.explain: k={k!r}; expected an integer >= 1")
    train = tracin.training_edges(train_triples)
    if top_lists is None:
        pro, opp = tracin.top_influences(test_triples, k, train, candidates)
    else:
        pro, opp = top_lists
        for side in (pro, opp):
            if tuple(side.indices.shape) != (len(test_triples), k):
                raise ValueError(f"kgif.explain: top_lists of shape {tuple(side.indices.shape)}; "
                                 f"expected ({len(test_triples)}, {k})")
    pro, opp = signed_topk(pro, largest=True), signed_topk(opp, largest=False)
    self_inf: dict[int, float] = {}
    test_self = [None] * len(test_triples)
    if self_influence:
        rows = torch.unique(torch.cat([pro.indices.flatten(), opp.indices.flatten()]))
        rows = rows[rows >= 0]
        values = tracin.self_influence(train[rows]).tolist() if len(rows) else []
        self_inf = dict(zip(rows.tolist(), values, strict=True))
        test_self = tracin.test_self_influence(test_triples).tolist()
    return [
        Explanation(tuple(test_triples[j].tolist()), test_self[j],
                    _influences(pro, j, train, "proponent", self_inf),
                    _influences(opp, j, train, "opponent", self_inf),
                    kg=kg, graph=getattr(tracin, "graph_fingerprint", None))
        for j in range(len(test_triples))
    ]


# --------------------------------------------------------------------------- summary


def _count(keys: list[str]) -> list[dict]:
    """``[{"key": k, "count": n}, ...]`` by decreasing count, ties by key (deterministic)."""
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return [{"key": k, "count": n} for k, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


def _summarise(edges: list[tuple[str, str, str]]) -> dict:
    """Split ``(relation label, head kind, tail kind)`` edges by relation and by kind pair."""
    by_kinds = [f"{a}->{b}" for _, a, b in edges if a or b]
    return {"by_relation": _count([r for r, _, _ in edges]), "by_kinds": _count(by_kinds)}


def relation_summary(ex: Explanation, kg: KnowledgeGraph) -> dict:
    """How the proponents of ``ex`` split by relation and by (head kind, tail kind).

    Returns:
        ``{"by_relation": [{"key": relation label, "count": n}, ...], "by_kinds":
        [{"key": "HeadKind->TailKind", "count": n}, ...]}``, each by decreasing count, ties
        by key. ``by_kinds`` is empty when the graph has no entity kinds.
    """
    return _summarise([(kg.relation_label(q), kg.entity_kind(a), kg.entity_kind(b))
                       for a, q, b in (inf.triple for inf in ex.proponents)])


def format_summary(part: list[dict]) -> str:
    """``"BINDS_CbG 6, ASSOCIATES_DaG 3"`` from one list of :func:`relation_summary`."""
    return ", ".join(f"{x['key']} {x['count']}" for x in part)


# --------------------------------------------------------------------------- notebook display

_STYLE = ("border-collapse:collapse;font-size:0.9em;text-align:left")


def _entity_text(kg: KnowledgeGraph | None, i: int) -> str:
    if kg is None:
        return f"entity {i}"
    kind = kg.entity_kind(i)
    return f"{kg.entity_name(i)} [{kind}]" if kind else kg.entity_name(i)


def _relation_text(kg: KnowledgeGraph | None, r: int) -> str:
    return f"relation {r}" if kg is None else kg.relation_name(r)


def _triple_text(kg: KnowledgeGraph | None, triple: tuple[int, int, int]) -> str:
    h, r, t = triple
    return f"{_entity_text(kg, h)} --{_relation_text(kg, r)}--> {_entity_text(kg, t)}"


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"


def _magnitude(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def explanation_repr(ex: Explanation) -> str:
    """``Explanation(<head> --<relation>--> <tail>, P proponents (top +s), O opponents
    (top -s), self-influence x)``: one line, names when ``ex.kg`` is set."""
    parts = [_triple_text(ex.kg, ex.triple)]
    for title, items in (("proponents", ex.proponents), ("opponents", ex.opponents)):
        top = f" (top {items[0].influence:+.4g})" if items else ""
        parts.append(f"{len(items)} {title}{top}")
    if ex.self_influence is not None:
        parts.append(f"self-influence {ex.self_influence:.4g}")
    return f"Explanation({', '.join(parts)})"


def _entity_cell(kg: KnowledgeGraph | None, i: int) -> str:
    if kg is None:
        return f"<td>{i}</td>"
    name, label, kind = kg.entity_name(i), kg.entity_label(i), kg.entity_kind(i)
    kind_html = f" <small>[{escape(kind)}]</small>" if kind else ""
    return f'<td title="{escape(label)}">{escape(name)}{kind_html}</td>'


def _row(kg: KnowledgeGraph | None, inf: Influence) -> str:
    a, q, b = inf.triple
    relation = escape(_relation_text(kg, q))
    return (f"<tr><td>{escape(inf.kind)}</td><td>{inf.rank}</td>"
            f"<td>{_score(inf.influence)}</td>{_entity_cell(kg, a)}<td>{relation}</td>"
            f"{_entity_cell(kg, b)}<td>{_magnitude(inf.self_influence)}</td></tr>")


def _summary_html(ex: Explanation) -> str:
    if ex.kg is None or not ex.proponents:
        return ""
    summary = relation_summary(ex, ex.kg)
    lines = [f"<p>proponents by relation: {escape(format_summary(summary['by_relation']))}</p>"]
    if summary["by_kinds"]:
        lines.append(f"<p>proponents by kinds: {escape(format_summary(summary['by_kinds']))}</p>")
    return "".join(lines)


def explanation_html(ex: Explanation) -> str:
    """The HTML view of one explanation (see the module docstring).

    Returns:
        An HTML fragment (a ``<div>``); every name, label and kind escaped.
    """
    note = "" if ex.self_influence is None else f" (self-influence {ex.self_influence:.4g})"
    header = ("<tr><th>kind</th><th>rank</th><th>TracInCP</th><th>head</th><th>relation</th>"
              "<th>tail</th><th>self-influence</th></tr>")
    rows = "".join(_row(ex.kg, inf) for inf in ex.influences)
    return (f"<div><p><b>{escape(_triple_text(ex.kg, ex.triple))}</b>{escape(note)}</p>"
            f'<table style="{_STYLE}">{header}{rows}</table>{_summary_html(ex)}</div>')

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

import torch
from torch import Tensor

from kgif.data.graph import KnowledgeGraph, check_same_graph
from kgif.data.validate import check_triples
from kgif.influence.topk import KMostInfluentialResults, signed_topk
from kgif.influence.tracin import TracIn

__all__ = ["Explanation", "Influence", "check_graph", "explain"]

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
    (:mod:`kgif.explanation.notebook`) names and kinds; it is not compared or saved.
    """

    triple: tuple[int, int, int]
    self_influence: float | None
    proponents: list[Influence] = field(default_factory=list)
    opponents: list[Influence] = field(default_factory=list)
    graph: str | None = None  # graph_fingerprint of the model's graph (None: unknown)
    kg: KnowledgeGraph | None = field(default=None, repr=False, compare=False)

    @property
    def influences(self) -> list[Influence]:
        return self.proponents + self.opponents

    def __repr__(self) -> str:
        from kgif.explanation.notebook import explanation_repr

        return explanation_repr(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the test triple, a table of proponents and opponents with names,
        kinds and scores, and the proponents' relation summary (escaped HTML)."""
        from kgif.explanation.notebook import explanation_html

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
            self_influence: bool = True, kg: KnowledgeGraph | None = None) -> list[Explanation]:
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
    pro, opp = tracin.top_influences(test_triples, k, train, candidates)
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
                    getattr(tracin, "graph_fingerprint", None), kg)
        for j in range(len(test_triples))
    ]

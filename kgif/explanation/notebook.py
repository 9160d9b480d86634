"""How an :class:`~kgif.explanation.explanation.Explanation` shows itself in a notebook.

:func:`explanation_repr` is its one-line ``repr``; :func:`explanation_html` its Jupyter
``_repr_html_``: the test triple by display name and kind, a table of the proponents and
opponents (rank, TracInCP score, head, relation, tail with names and kinds, self-influence)
and the proponents' split by relation and by kinds
(:func:`kgif.explanation.explanation.relation_summary`). Every label and name is HTML-escaped.
Without a graph (``Explanation.kg`` unset) entities and relations show as ids.
"""

from __future__ import annotations

from html import escape

from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation, Influence
from kgif.explanation.tables import format_summary, relation_summary

__all__ = ["explanation_html", "explanation_repr"]

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

"""Hold out edges of an all-training graph (a KGX export, a DataFrame) into validation and test.

:func:`split` moves a seeded random fraction of one relation's training edges (e.g. ``treats``)
into validation and test, **keeping every entity and every relation in training**: an edge whose
removal would take away the last training edge of its head, its tail or its relation stays in
training, as PyKEEN's splitter ensures (``TriplesFactory.split``, which moves such triples back
into training after a random split). A held-out edge ``(h, r, t)`` takes its reverse
``(t, r, h)`` along into the same split when the graph has it (symmetric relations such as
``interacts_with``), so no test edge is answered by its mirror image in training. Triples keep
**base** relation ids; reciprocal relations are the model's business
(:func:`kgif.data.graph.with_reciprocals`), never written into the splits.

:func:`write_split` writes the result as a label-TSV folder (``train.txt``, ``valid.txt``,
``test.txt``), a node table ``entities.tsv`` (``id``, ``name``, ``kind``, ``category``) and
``split.json`` (the settings and counts), so that ``load_dataset(folder)`` reads it back with the
same ids, names and kinds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from kgif._io import atomic_write_json, atomic_write_text
from kgif.data.graph import KnowledgeGraph
from kgif.data.tsv import write_label_triples

__all__ = ["SPLIT_FILES", "SplitSettings", "split", "write_split"]

logger = logging.getLogger(__name__)

#: Files :func:`write_split` writes.
SPLIT_FILES = ("train.txt", "valid.txt", "test.txt", "entities.tsv", "split.json")


@dataclass(frozen=True)
class SplitSettings:
    """What :func:`split` was asked (recorded in ``split.json`` by :func:`write_split`).

    Attributes:
        relation: The held-out relation's label, or None for all relations.
        valid: Requested fraction of the candidate edges for validation.
        test: Requested fraction for test.
        seed: Seed of the random order (``torch.Generator``).
        candidates: Number of candidate edges (training edges of ``relation``).
    """

    relation: str | None
    valid: float
    test: float
    seed: int
    candidates: int


def _check_fractions(valid: float, test: float) -> None:
    for what, value in (("valid", valid), ("test", test)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise ValueError(f"split: {what} must be a fraction in [0, 1), got {value!r}")
    if valid + test >= 1 or valid + test == 0:
        raise ValueError(f"split: valid + test must be in (0, 1), got {valid} + {test}")


def _check_unsplit(kg: KnowledgeGraph) -> None:
    if len(kg.validation) or len(kg.testing):
        raise ValueError(f"split: {kg.name or 'the graph'} already has {len(kg.validation)} "
                         f"validation and {len(kg.testing)} test triples; split an all-training "
                         "graph (e.g. a KGX export)")
    if len(torch.unique(kg.training, dim=0)) != len(kg.training):
        raise ValueError("split: the training triples repeat some edges; a held-out copy would "
                         "stay in training. Load the graph with duplicates='drop'")


def _units(training: torch.Tensor, rows: list[int]) -> list[list[int]]:
    """Each candidate row with its reverse ``(t, r, h)`` row if that is a candidate too."""
    index = {tuple(training[i].tolist()): i for i in rows}
    seen: set[int] = set()
    units = []
    for i in rows:
        if i in seen:
            continue
        h, r, t = training[i].tolist()
        j = index.get((t, r, h))
        unit = [i] if j is None or j == i else [i, j]
        seen.update(unit)
        units.append(unit)
    return units


def _removable(training: torch.Tensor, unit: list[int], degree: torch.Tensor,
               rel_count: torch.Tensor) -> bool:
    """Whether every entity and the relation keep a training edge without ``unit``."""
    loss: dict[int, int] = {}
    for i in unit:
        h, _, t = training[i].tolist()
        for e in {h, t}:  # a self-loop is one edge of its entity
            loss[e] = loss.get(e, 0) + 1
    r = int(training[unit[0], 1])
    return (all(int(degree[e]) > n for e, n in loss.items())
            and int(rel_count[r]) > len(unit))


def _take(training: torch.Tensor, unit: list[int], degree: torch.Tensor,
          rel_count: torch.Tensor) -> None:
    for i in unit:
        h, r, t = training[i].tolist()
        for e in {h, t}:
            degree[e] -= 1
        rel_count[r] -= 1


def _degrees(kg: KnowledgeGraph) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N,)`` training edges per entity (a self-loop once) and ``(R,)`` edges per relation."""
    h, r, t = kg.training.unbind(1)
    degree = torch.bincount(h, minlength=kg.num_entities)
    degree += torch.bincount(t[t != h], minlength=kg.num_entities)
    return degree, torch.bincount(r, minlength=kg.num_relations)


def _hold_out(kg: KnowledgeGraph, rows: list[int], targets: tuple[int, int], seed: int
              ) -> tuple[list[int], list[int]]:
    """Greedy over units in seeded random order: test rows first, then validation rows."""
    generator = torch.Generator().manual_seed(seed)
    order = [rows[k] for k in torch.randperm(len(rows), generator=generator).tolist()]
    degree, rel_count = _degrees(kg)
    held: tuple[list[int], list[int]] = ([], [])  # test, valid
    for unit in _units(kg.training, order):
        side = 0 if len(held[0]) < targets[0] else 1
        if len(held[side]) + len(unit) > targets[side]:
            continue
        if _removable(kg.training, unit, degree, rel_count):
            _take(kg.training, unit, degree, rel_count)
            held[side].extend(unit)
        if len(held[0]) == targets[0] and len(held[1]) == targets[1]:
            break
    return held


def split(kg: KnowledgeGraph, relation: str | int | None = None, *, valid: float = 0.1,
          test: float = 0.1, seed: int = 0) -> KnowledgeGraph:
    """Hold out a seeded random fraction of one relation's training edges into valid and test.

    Every entity and relation keeps at least one training edge (see the module docstring);
    when that leaves fewer edges to hold out than asked, a warning is logged with the counts.

    Args:
        kg: An all-training graph (no validation or test triples, no repeated edges).
        relation: The relation to hold out (label or id, resolved by
            :meth:`~kgif.data.graph.KnowledgeGraph.resolve_relation`); None: all relations.
        valid: Fraction of that relation's edges for validation, ``round(valid * n)`` edges.
        test: Fraction for test, ``round(test * n)`` edges.
        seed: Seed of the random order; the same seed gives the same split.

    Returns:
        A new graph with the same id maps, names, kinds and categories; ``training`` keeps the
        remaining rows in their order, ``validation``/``testing`` the held-out ones, all
        ``(n, 3)`` int64 with base relation ids.

    Raises:
        ValueError: Fractions outside ``[0, 1)`` or summing to 0 or ``>= 1``, a graph that
            already has valid/test triples or repeats an edge.
        KeyError: Unknown relation (with suggestions).
    """
    _check_fractions(valid, test)
    _check_unsplit(kg)
    r = None if relation is None else kg.resolve_relation(relation)
    mask = torch.ones(len(kg.training), dtype=torch.bool) if r is None else kg.training[:, 1] == r
    rows = mask.nonzero().flatten().tolist()
    targets = (round(test * len(rows)), round(valid * len(rows)))
    test_rows, valid_rows = _hold_out(kg, rows, targets, seed)
    what = "all relations" if r is None else repr(kg.relation_label(r))
    if (len(test_rows), len(valid_rows)) != targets:
        logger.warning("split: held out %d test and %d validation edges of %s, not %d and %d: "
                       "the others are the last training edge of an entity or relation",
                       len(test_rows), len(valid_rows), what, *targets)
    keep = torch.ones(len(kg.training), dtype=torch.bool)
    keep[test_rows + valid_rows] = False
    logger.info("split: %s: %d candidate edges of %s -> %d train, %d valid, %d test (seed %d)",
                kg.name or "graph", len(rows), what, int(keep.sum()), len(valid_rows),
                len(test_rows), seed)
    return KnowledgeGraph(
        dict(kg.entity_to_id), dict(kg.relation_to_id), kg.training[keep],
        validation=kg.training[valid_rows], testing=kg.training[test_rows],
        entity_names=dict(kg.entity_names), relation_names=dict(kg.relation_names),
        name=kg.name, entity_kinds=dict(kg.entity_kinds),
        entity_categories=dict(kg.entity_categories))


# --------------------------------------------------------------------------- writing


def _label_rows(kg: KnowledgeGraph, triples: torch.Tensor) -> list[tuple[str, str, str]]:
    e, r = kg.id_to_entity, kg.id_to_relation
    return [(e[h], r[k], e[t]) for h, k, t in triples.tolist()]


def _cell(text: str, where: str) -> str:
    if any(c in text for c in "\t\r\n"):
        raise ValueError(f"write_split: {where} {text!r} holds a tab or newline; it cannot be "
                         "written to entities.tsv")
    return text


def _write_nodes(path: Path, kg: KnowledgeGraph) -> None:
    lines = ["id\tname\tkind\tcategory"]
    for i, label in enumerate(kg.id_to_entity):
        cells = (label, kg.entity_names.get(i, ""), kg.entity_kind(i),
                 "|".join(kg.entity_categories.get(i, ())))
        lines.append("\t".join(_cell(c, f"entity {label!r}:") for c in cells))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _check_output(folder: Path, overwrite: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"write_split: {folder} exists and is not a folder")
    present = [n for n in SPLIT_FILES if (folder / n).exists()]
    if present and not overwrite:
        raise ValueError(f"write_split: {folder} already holds {present}; choose a new folder "
                         "or pass overwrite=True (--overwrite)")


def write_split(kg: KnowledgeGraph, folder: str | os.PathLike[str], *,
                settings: SplitSettings | None = None, overwrite: bool = False) -> None:
    """Write a split graph as a label-TSV folder that ``load_dataset(folder)`` reads back.

    Writes ``train.txt``, ``valid.txt``, ``test.txt`` (``head<TAB>relation<TAB>tail`` labels),
    ``entities.tsv`` (header ``id name kind category``; ``category`` ``|``-separated) and
    ``split.json`` (the :class:`SplitSettings`, counts and graph name), each atomically.

    Args:
        kg: The graph, usually from :func:`split`.
        folder: Output folder (created).
        settings: What :func:`split` was asked (recorded in ``split.json``), if known.
        overwrite: Replace the files of an earlier split there (refused by default).

    Raises:
        ValueError: The folder holds split files already (without ``overwrite``), is a file,
            or a label or name holds a tab or newline.
    """
    folder = Path(folder)
    _check_output(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    for name, triples in (("train.txt", kg.training), ("valid.txt", kg.validation),
                          ("test.txt", kg.testing)):
        write_label_triples(folder / name, _label_rows(kg, triples))
    _write_nodes(folder / "entities.tsv", kg)
    record = {"source": kg.name, "settings": None if settings is None else asdict(settings),
              "train": len(kg.training), "valid": len(kg.validation), "test": len(kg.testing),
              "entities": kg.num_entities, "relations": kg.num_relations}
    atomic_write_json(folder / "split.json", record)

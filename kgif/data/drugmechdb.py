"""DrugMechDB mechanism paths on the bundled Hetionet: supporting training edges per indication.

DrugMechDB (Gonzalez-Cavazos et al., *Scientific Data* 2023, doi:10.1038/s41597-023-02534-z)
curates drug -> protein -> ... -> disease mechanism paths. The bundled file
``kgif/data/bundled/hetionet/drugmechdb/hetionet_drugmechdb_edges.tsv.gz`` maps them onto the
bundled Hetionet (its ``PROVENANCE.md`` gives the sources, licences and mapping rules): each row
is one **supporting edge**, a Hetionet training edge joining two on-path nodes (drug, disease,
genes mapped from the path's proteins) of one DrugMechDB path of a (compound, ``TREATS_CtD``,
disease) pair. :func:`read_drugmechdb` groups the rows by pair and resolves them in a
:class:`~kgif.data.graph.KnowledgeGraph`: per pair, its training rows (the union over its
DrugMechDB paths) and each DrugMechDB path's own rows.

A malformed file is refused with one line naming the file, the line and the problem: a header
other than :data:`COLUMNS`, a line with another number of fields, an unknown split, an entity
or relation label the graph does not have, a supporting edge that is not a training edge, or a
pair whose ``split`` column disagrees with the graph (a ``test`` pair that is not a test triple).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from kgif.data.graph import KnowledgeGraph

__all__ = ["COLUMNS", "DRUGMECHDB_SPLITS", "Mechanism", "drugmechdb_file", "read_drugmechdb"]

#: Header of the supporting-edge file.
COLUMNS = ("test_head", "test_relation", "test_tail", "split", "path_id", "head", "relation",
           "tail")
#: Values of the ``split`` column: the split holding the pair's TREATS_CtD edge, or none.
DRUGMECHDB_SPLITS = ("train", "valid", "test", "none")


@dataclass(frozen=True)
class Mechanism:
    """The DrugMechDB supporting edges of one (compound, relation, disease) pair.

    Attributes:
        triple: ``(head, relation, tail)`` ids in the graph (base relation id).
        split: the split holding the triple (:data:`DRUGMECHDB_SPLITS`).
        supporting: (m,) int64 sorted unique rows of ``kg.training``, the union over paths.
        paths: DrugMechDB path id -> (m_p,) int64 sorted unique training rows of that path,
            in file order of the path ids.
    """

    triple: tuple[int, int, int]
    split: str
    supporting: Tensor
    paths: dict[str, Tensor] = field(default_factory=dict)


def drugmechdb_file() -> Path:
    """The bundled supporting-edge file (gzip TSV with :data:`COLUMNS`)."""
    from kgif.data.datasets import bundled_dir

    return bundled_dir() / "hetionet" / "drugmechdb" / "hetionet_drugmechdb_edges.tsv.gz"


def _lines(path: Path) -> Iterator[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield from csv.reader(text, delimiter="\t")


class _Resolver:
    """Labels -> ids and training edges -> rows of one graph, with one-line errors."""

    def __init__(self, kg: KnowledgeGraph, where: str):
        self.kg, self.where = kg, where
        n_ent, n_rel = kg.num_entities, kg.num_relations
        codes = ((kg.training[:, 0] * n_rel + kg.training[:, 1]) * n_ent
                 + kg.training[:, 2]).tolist()
        self.rows = {c: i for i, c in reversed(list(enumerate(codes)))}
        self.splits = {name: {tuple(t) for t in triples.tolist()} for name, triples in
                       (("train", kg.training), ("valid", kg.validation), ("test", kg.testing))}

    def fail(self, number: int, message: str) -> ValueError:
        return ValueError(f"read_drugmechdb: line {number} of {self.where}: {message}")

    def ids(self, number: int, head: str, relation: str, tail: str) -> tuple[int, int, int]:
        kg = self.kg
        for label, mapping, what in ((head, kg.entity_to_id, "entity"),
                                     (relation, kg.relation_to_id, "relation"),
                                     (tail, kg.entity_to_id, "entity")):
            if label not in mapping:
                raise self.fail(number, f"unknown {what} label {label!r} (not in graph "
                                        f"{kg.name!r})")
        return kg.entity_to_id[head], kg.relation_to_id[relation], kg.entity_to_id[tail]

    def training_row(self, number: int, triple: tuple[int, int, int], text: list[str]) -> int:
        h, r, t = triple
        row = self.rows.get((h * self.kg.num_relations + r) * self.kg.num_entities + t)
        if row is None:
            raise self.fail(number, f"supporting edge {' '.join(text)} is not a training edge")
        return row

    def check_split(self, number: int, triple: tuple[int, int, int], split: str,
                    text: list[str]) -> None:
        if split in self.splits and triple not in self.splits[split]:
            raise self.fail(number, f"{' '.join(text)} is said to be a {split} edge but is not "
                                    f"in the graph's {split} split")


def read_drugmechdb(kg: KnowledgeGraph, path: str | os.PathLike | None = None, *,
                    splits: Iterable[str] | None = ("test",)) -> list[Mechanism]:
    """The DrugMechDB supporting edges of each pair, as training rows of ``kg``.

    Args:
        kg: the graph (the bundled Hetionet, or any graph with the same labels); its training
            split must hold every supporting edge.
        path: a TSV (or ``.tsv.gz``) with :data:`COLUMNS` as header; default the bundled file
            (:func:`drugmechdb_file`).
        splits: keep the pairs whose ``split`` is one of these (default the held-out test
            edges); None keeps all. Every line is validated, kept or not.

    Returns:
        One :class:`Mechanism` per pair, in order of first appearance.

    Raises:
        ValueError: on a bad ``splits`` value or a malformed file; the message names the file
            and the line (see the module docstring).
        FileNotFoundError: if ``path`` does not exist.
    """
    chosen = None if splits is None else tuple(splits)
    bad = sorted(set(chosen or ()) - set(DRUGMECHDB_SPLITS))
    if bad:
        raise ValueError(f"read_drugmechdb: splits {bad} unknown; expected some of "
                         f"{list(DRUGMECHDB_SPLITS)}")
    path = drugmechdb_file() if path is None else Path(path)
    resolve = _Resolver(kg, str(path))
    pairs: dict[tuple[int, int, int], tuple[str, dict[str, list[int]]]] = {}
    number = 0
    for number, fields in enumerate(_lines(path), start=1):
        if number == 1:
            if tuple(fields) != COLUMNS:
                raise resolve.fail(1, f"header {fields} is not {list(COLUMNS)}")
            continue
        if len(fields) != len(COLUMNS):
            raise resolve.fail(number, f"{len(fields)} fields, expected {len(COLUMNS)}")
        split, path_id = fields[3], fields[4]
        if split not in DRUGMECHDB_SPLITS:
            raise resolve.fail(number, f"split {split!r}, expected one of "
                                       f"{list(DRUGMECHDB_SPLITS)}")
        if not path_id:
            raise resolve.fail(number, "empty path_id")
        test = resolve.ids(number, *fields[0:3])
        resolve.check_split(number, test, split, fields[0:3])
        row = resolve.training_row(number, resolve.ids(number, *fields[5:8]), fields[5:8])
        known = pairs.setdefault(test, (split, {}))
        if known[0] != split:
            raise resolve.fail(number, f"pair {' '.join(fields[0:3])} has split {split!r} here "
                                       f"and {known[0]!r} on an earlier line")
        known[1].setdefault(path_id, []).append(row)
    if number == 0:
        raise ValueError(f"read_drugmechdb: {path} is empty (expected the header "
                         f"{list(COLUMNS)})")
    return [_mechanism(triple, split, by_path) for triple, (split, by_path) in pairs.items()
            if chosen is None or split in chosen]


def _mechanism(triple: tuple[int, int, int], split: str,
               by_path: dict[str, list[int]]) -> Mechanism:
    paths = {p: torch.unique(torch.tensor(rows, dtype=torch.long)) for p, rows in by_path.items()}
    return Mechanism(triple, split, torch.unique(torch.cat(list(paths.values()))), paths)

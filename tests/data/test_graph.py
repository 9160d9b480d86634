"""Tests for kgif.data.graph: node tables, entity kinds, domain/range, type masks, name
resolution."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from kgif.data.datasets import read_node_table, read_tsv_dataset
from kgif.data.graph import (
    KnowledgeGraph,
    forward_relation,
    inverse_of,
    num_relation_rows,
    reciprocal_queries,
)
from kgif.data.tsv import write_label_triples

TRAIN = [
    ("Compound::1", "TREATS", "Disease::1"),
    ("Compound::2", "TREATS", "Disease::2"),
    ("Compound::1", "BINDS", "Gene::1"),
    ("Gene::1", "INTERACTS", "Gene::2"),
    ("Disease::1", "ASSOCIATES", "Gene::2"),
    ("Compound::3", "BINDS", "Gene::2"),
]
TABLE = [
    "id\tname\tkind",
    "Compound::1\tDoxorubicin\tCompound",
    "Compound::2\tAspirin\tCompound",
    "Compound::3\taspirin\tCompound",  # same display name as Compound::2 but for case
    "Disease::1\tbreast cancer\tDisease",
    "Disease::2\tmigraine\tDisease",
    "Gene::1\tTOP2A\tGene",
    "Gene::2\tTP53\tGene",
    "Gene::99\tnot in the graph\tGene",
]


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def kg(tmp_path: Path) -> KnowledgeGraph:
    write_label_triples(tmp_path / "g" / "train.txt", TRAIN)
    _write(tmp_path / "g" / "entities.tsv.gz", TABLE)
    return read_tsv_dataset(tmp_path / "g")


# ------------------------------------------------------------------ node tables


def test_node_table_names_and_kinds(kg: KnowledgeGraph) -> None:
    expected = {row.split("\t")[0]: row.split("\t")[1:] for row in TABLE[1:]}
    for label, i in kg.entity_to_id.items():
        assert [kg.entity_name(i), kg.entity_kind(i)] == expected[label]
    assert kg.kinds == sorted({kind for _, kind in expected.values()})


def test_node_table_column_order_and_kgx_category(tmp_path: Path) -> None:
    ent = {"a": 0, "b": 1}
    path = _write(tmp_path / "nodes.tsv", ["\ufeffcategory\tid\textra", "K1\ta\tx", "\tb\ty"])
    names, kinds = read_node_table(path, ent)
    assert names == {} and kinds == {0: "K1"}  # empty kind omitted, not ""


def test_node_table_bad_header_names_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "nodes.tsv", ["label\tname\tkind", "a\tA\tK"])
    with pytest.raises(ValueError, match=r"line 1 of .*nodes\.tsv.*'id'"):
        read_node_table(path, {"a": 0})


def test_node_table_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "nodes.tsv", ["id\tname\tkind", "a\tA\tK", "b\tB"])
    with pytest.raises(ValueError, match=r"line 3 of .*nodes\.tsv has 2 columns, expected 3"):
        read_node_table(path, {"a": 0, "b": 1})


def test_node_table_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "nodes.tsv", [])
    with pytest.raises(ValueError, match=r"nodes\.tsv is empty"):
        read_node_table(path, {"a": 0})


# ------------------------------------------------------------------ domain, range, type_mask


def _random_kg(seed: int, n_ent: int = 30, n_rel: int = 5, n: int = 80,
               with_unknown: bool = True) -> KnowledgeGraph:
    g = torch.Generator().manual_seed(seed)
    triples = torch.stack([torch.randint(0, n_ent, (n,), generator=g),
                           torch.randint(0, n_rel, (n,), generator=g),
                           torch.randint(0, n_ent, (n,), generator=g)], 1)
    kinds_of = torch.randint(0, 4, (n_ent,), generator=g).tolist()
    kinds = {e: f"K{k}" for e, k in enumerate(kinds_of) if not (with_unknown and k == 3)}
    return KnowledgeGraph({f"e{i}": i for i in range(n_ent)},
                          {f"r{i}": i for i in range(n_rel)}, triples, entity_kinds=kinds)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_domain_range_and_type_mask_against_a_loop(seed: int) -> None:
    kg = _random_kg(seed)
    for r in range(kg.num_relations):
        domain, range_ = set(), set()
        for h, rr, t in kg.training.tolist():  # brute force over the training triples
            if rr == r:
                if h in kg.entity_kinds:
                    domain.add(kg.entity_kinds[h])
                if t in kg.entity_kinds:
                    range_.add(kg.entity_kinds[t])
        assert kg.relation_domain(r) == domain and kg.relation_range(r) == range_
        for side, allowed in (("head", domain), ("tail", range_)):
            expected = [kg.entity_kinds.get(e) in allowed for e in range(kg.num_entities)]
            assert kg.type_mask(r, side).tolist() == expected


def test_type_mask_without_kinds_allows_everything() -> None:
    kg = _random_kg(0)
    kg = KnowledgeGraph(kg.entity_to_id, kg.relation_to_id, kg.training)
    assert kg.kinds == [] and kg.type_mask(0, "tail").all() and kg.type_mask(1, "head").all()
    assert kg.relation_range(0) == frozenset()


def test_type_mask_rejects_bad_arguments(kg: KnowledgeGraph) -> None:
    with pytest.raises(ValueError, match="side"):
        kg.type_mask(0, "middle")
    with pytest.raises(ValueError, match="relation 99"):
        kg.type_mask(99)


def test_hetionet_like_domain(kg: KnowledgeGraph) -> None:
    treats = kg.relation_to_id["TREATS"]
    assert kg.relation_domain(treats) == {"Compound"}
    assert kg.relation_range(treats) == {"Disease"}
    mask = kg.type_mask(treats, "tail")
    assert {kg.entity_label(i) for i in mask.nonzero().flatten().tolist()} == {
        "Disease::1", "Disease::2"}


# ------------------------------------------------------------------ resolve_entity


def test_resolve_unique_by_label_id_and_name(kg: KnowledgeGraph) -> None:
    i = kg.entity_to_id["Compound::1"]
    assert kg.resolve_entity("Compound::1") == i
    assert kg.resolve_entity(i) == i and kg.resolve_entity(str(i)) == i
    assert kg.resolve_entity("Doxorubicin") == i
    assert kg.resolve_entity("DOXORUBICIN") == i  # case-insensitive name
    assert kg.resolve_entity("compound::1") == i  # case-insensitive label


def test_resolve_ambiguous_lists_matches(kg: KnowledgeGraph) -> None:
    with pytest.raises(KeyError, match="ambiguous") as info:
        kg.resolve_entity("ASPIRIN")
    assert "Compound::2" in str(info.value) and "Compound::3" in str(info.value)
    assert "Compound" in str(info.value)  # the kind is shown


def test_resolve_unknown_suggests_close_matches(kg: KnowledgeGraph) -> None:
    with pytest.raises(KeyError, match="close matches.*Doxorubicin"):
        kg.resolve_entity("Doxorubicine")
    with pytest.raises(KeyError, match="unknown entity"):
        kg.resolve_entity("zzzzzzzz")


def test_resolve_relation_case_only_difference_is_resolved_or_suggested() -> None:
    kg = KnowledgeGraph({"usa": 0, "uk": 1}, {"treats": 0, "TREATS": 1, "binds": 2},
                        torch.tensor([[0, 0, 1], [0, 1, 1], [1, 2, 0]]))
    assert kg.resolve_relation("BINDS") == 2  # a unique case-folded match
    with pytest.raises(KeyError, match="close matches: 'treats', 'TREATS'"):
        kg.resolve_relation("Treats")  # two case-only matches: suggest both
    assert kg.resolve_entity("USA") == 0


# ------------------------------------------------------------------ reciprocal numbering


def test_reciprocal_numbering_is_pykeens() -> None:
    triples = torch.tensor([[0, 0, 1], [2, 3, 4]])
    tail = reciprocal_queries(triples, "tail").tolist()
    head = reciprocal_queries(triples, "head").tolist()
    assert tail == [[0, 0, 1], [2, 6, 4]]  # (h, 2r, t)
    assert head == [[1, 1, 0], [4, 7, 2]]  # (t, 2r + 1, h)
    assert forward_relation(3) == 6 and inverse_of(3) == 7 and num_relation_rows(4) == 8

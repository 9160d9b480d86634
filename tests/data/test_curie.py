"""CURIE resolution: Hetionet's Kind::local labels and KGX CURIE labels found from CURIEs with
any known prefix spelling, with and without the optional ``curies`` package."""

from __future__ import annotations

import pytest

import kgif.data.curie as curie
from kgif.data.build import from_label_triples
from kgif.data.curie import curie_candidates, split_curie, standardize_curie
from kgif.data.datasets import load_dataset

HETIONET_STYLE = [
    ("Compound::DB00997", "TREATS_CtD", "Disease::DOID:1612"),
    ("Gene::1017", "ASSOCIATES_DaG", "Disease::DOID:1612"),
    ("Anatomy::UBERON:0000002", "EXPRESSES_AeG", "Gene::1017"),
]


@pytest.fixture(params=["with curies", "built-in table"])
def converter_mode(request, monkeypatch):
    """Run a test with the curies package's converter and with the built-in fallback only."""
    if request.param == "built-in table":
        monkeypatch.setattr(curie, "default_converter", lambda: None)
    else:
        assert curie.default_converter() is not None  # curies is a dev dependency
    return request.param


@pytest.mark.parametrize(("text", "label"), [
    ("DOID:1612", "Disease::DOID:1612"),
    ("doid:1612", "Disease::DOID:1612"),
    ("DRUGBANK:DB00997", "Compound::DB00997"),
    ("drugbank:DB00997", "Compound::DB00997"),
    ("DrugBank:DB00997", "Compound::DB00997"),
    ("NCBIGene:1017", "Gene::1017"),
    ("EntrezGene:1017", "Gene::1017"),
    ("ncbigene:1017", "Gene::1017"),
    ("UBERON:0000002", "Anatomy::UBERON:0000002"),
])
def test_curies_find_hetionet_style_labels(text, label, converter_mode):
    kg = from_label_triples(HETIONET_STYLE)
    assert kg.entity_label(kg.resolve_entity(text)) == label


def test_bundled_hetionet_resolves_the_brief_examples():
    kg = load_dataset("hetionet")
    assert kg.entity_label(kg.resolve_entity("DOID:1612")) == "Disease::DOID:1612"
    assert kg.entity_name(kg.resolve_entity("DOID:1612")) == "breast cancer"
    assert kg.entity_label(kg.resolve_entity("DRUGBANK:DB00997")) == "Compound::DB00997"
    assert kg.entity_name(kg.resolve_entity("drugbank:DB00997")) == "Doxorubicin"
    assert kg.entity_label(kg.resolve_entity("NCBIGene:1017")) == "Gene::1017"


def test_kgx_labels_are_standardised(converter_mode):
    kg = from_label_triples([("DRUGBANK:DB00997", "biolink:treats", "MONDO:0007254")])
    assert kg.resolve_entity("drugbank:DB00997") == kg.entity_to_id["DRUGBANK:DB00997"]
    assert kg.resolve_entity("mondo:0007254") == kg.entity_to_id["MONDO:0007254"]


def test_uris_need_the_curies_package(monkeypatch):
    uri = "http://purl.obolibrary.org/obo/DOID_1612"
    assert standardize_curie(uri) == "DOID:1612"
    monkeypatch.setattr(curie, "default_converter", lambda: None)
    assert standardize_curie(uri) is None


def test_exact_labels_win_and_unknown_prefixes_fail():
    kg = from_label_triples([("doid:5", "r", "Disease::DOID:5"), ("FOO:1", "r", "doid:5")])
    assert kg.entity_label(kg.resolve_entity("doid:5")) == "doid:5"  # an exact label first
    with pytest.raises(KeyError, match="unknown entity 'BAR:1'"):
        kg.resolve_entity("BAR:1")


def test_a_curie_naming_two_entities_is_ambiguous():
    kg = from_label_triples([("Disease::DOID:7", "r", "Disease::7")])
    with pytest.raises(KeyError, match=r"CURIE 'doid:7' is ambiguous: it names "
                                       r"'Disease::DOID:7', 'Disease::7'"):
        kg.resolve_entity("doid:7")


@pytest.mark.parametrize(("text", "parts"), [
    ("DOID:1612", ("DOID", "1612")),
    ("UBERON:0000002", ("UBERON", "0000002")),
    ("Compound::DB00997", None),
    ("http://example.org/x", None),
    ("no colon", None),
    (":1", None),
    ("a b:1", None),
])
def test_split_curie(text, parts):
    assert split_curie(text) == parts


def test_candidates_in_order(converter_mode):
    assert curie_candidates("doid:1612") == ["DOID:1612", "Disease::DOID:1612", "Disease::1612"]
    assert curie_candidates("XYZ:1") == []
    assert curie_candidates("plain text") == []


def test_predict_and_explain_queries_take_curies():
    from kgif.evaluation.predict import make_query

    kg = from_label_triples(HETIONET_STYLE)
    query = make_query(kg, "drugbank:DB00997", "TREATS_CtD", None)
    assert (kg.entity_label(query.entity), query.side) == ("Compound::DB00997", "tail")
    assert kg.resolve_triples([("DRUGBANK:DB00997", "TREATS_CtD", "DOID:1612")]).tolist() == [
        [kg.entity_to_id["Compound::DB00997"], 2, kg.entity_to_id["Disease::DOID:1612"]]]

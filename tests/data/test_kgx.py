"""KGX graphs in: node/edge TSV and JSON Lines, Biolink kinds, refusals naming file and line; and
the whole command-line path on a KGX fixture: split -> train -> predict -> explain."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest

from kgif.data.biolink import category_depth, most_specific_category
from kgif.data.datasets import load_dataset
from kgif.data.kgx import from_dataframe, read_kgx_dataset

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kgx_small"
LONG_NAME = ("3-[(2S)-2-amino-3-(4-hydroxy-3-iodophenyl)propanoyl]oxy-N,N,N-trimethyl-"
             "propan-1-aminium chloride monohydrate, an experimental kinase inhibitor with a long "
             "name")
LONG_CURIE = "PUBCHEM.COMPOUND:900000000000000000000000000000000000000000000001"
CHEM = ("biolink:SmallMolecule", "biolink:MolecularEntity", "biolink:ChemicalEntity",
        "biolink:PhysicalEssence", "biolink:NamedThing")

NODES = ("id\tcategory\tname\tprovided_by\n"
         "D:1\tbiolink:NamedThing|biolink:SmallMolecule\tdrug one\tinfores:x\n"
         "S:1\tbiolink:Disease\tdisease one\t\n"
         "G:1\tbiolink:Gene|biolink:Protein\t\t\n")
EDGES = ("subject\tpredicate\tobject\tprimary_knowledge_source\tpublications\n"
         "D:1\tbiolink:treats\tS:1\tinfores:a\tPMID:1|PMID:2\n"
         "D:1\tbiolink:affects\tG:1\tinfores:b\t\n"
         "G:1\tbiolink:related_to\tS:1\tinfores:c\t\n")


def _write(folder: Path, nodes: str = NODES, edges: str = EDGES, stem: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}nodes.tsv").write_text(nodes, encoding="utf-8")
    (folder / f"{stem}edges.tsv").write_text(edges, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- Biolink categories


@pytest.mark.parametrize(("categories", "expected"), [
    (["biolink:NamedThing", "biolink:ChemicalEntity", "biolink:SmallMolecule"],
     "biolink:SmallMolecule"),
    (["biolink:ChemicalEntity", "biolink:Drug"], "biolink:Drug"),  # Drug is_a MolecularMixture
    (["biolink:Gene", "biolink:Protein"], "biolink:Protein"),  # depth 3 vs 4
    (["biolink:Gene", "biolink:SequenceVariant"], "biolink:Gene"),  # a tie: first listed
    (["biolink:PhysicalEssence", "biolink:ChemicalOrDrugOrTreatment"],
     "biolink:PhysicalEssence"),  # mixins only: first listed
    (["biolink:PhysicalEssence", "biolink:Disease"], "biolink:Disease"),
    (["Disease"], "Disease"),
])
def test_most_specific_category(categories, expected):
    assert most_specific_category(categories) == expected


def test_category_depth_and_refusals():
    assert category_depth("biolink:NamedThing") == 1
    assert category_depth("biolink:SmallMolecule") == 4  # MolecularEntity, ChemicalEntity, NT
    assert category_depth("biolink:NoSuchClass") == -1
    with pytest.raises(ValueError, match="no category"):
        most_specific_category([])
    with pytest.raises(ValueError, match="cycle"):
        category_depth("A", {"A": "B", "B": "A"})


# --------------------------------------------------------------------------- reading


def test_fixture_loads_with_kinds_names_and_categories():
    kg = load_dataset(FIXTURE)
    assert (kg.num_entities, kg.num_relations, len(kg.training), len(kg.validation),
            len(kg.testing)) == (30, 5, 94, 0, 0)
    assert kg.id_to_relation == ["biolink:affects", "biolink:gene_associated_with_condition",
                                 "biolink:has_phenotype", "biolink:interacts_with",
                                 "biolink:treats"]
    dox = kg.entity_to_id["DRUGBANK:DB00997"]
    assert (kg.entity_name(dox), kg.entity_kind(dox)) == ("doxorubicin", "biolink:SmallMolecule")
    assert kg.entity_categories[dox] == CHEM
    aspirin = kg.resolve_entity("aspirin")
    assert kg.entity_kind(aspirin) == "biolink:Drug"
    assert kg.entity_kind(kg.entity_to_id["NCBIGene:7157"]) == "biolink:Gene"
    assert kg.entity_kind(kg.entity_to_id["HP:0001945"]) == "biolink:PhenotypicFeature"
    assert kg.entity_name(kg.entity_to_id["CHEBI:6801"]) == "CHEBI:6801"  # no name: the CURIE
    assert kg.entity_name(kg.entity_to_id[LONG_CURIE]) == LONG_NAME
    assert kg.kinds == ["biolink:Disease", "biolink:Drug", "biolink:Gene",
                        "biolink:PhenotypicFeature", "biolink:SmallMolecule"]


def test_extra_columns_are_counted_and_all_training_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="kgif.data.kgx"):
        kg = load_dataset(_write(tmp_path / "g"))
    assert kg.summary() == "g: 3 entities, 3 relations, 3/0/0 train/valid/test triples"
    assert "ignored node columns: provided_by (1 values)" in caplog.text
    assert ("ignored edge columns: primary_knowledge_source (3 values), publications (1 values)"
            in caplog.text)
    assert "all-training" in caplog.text and "python -m kgif split" in caplog.text
    assert kg.entity_kind(kg.entity_to_id["D:1"]) == "biolink:SmallMolecule"
    assert kg.entity_categories[kg.entity_to_id["G:1"]] == ("biolink:Gene", "biolink:Protein")


@pytest.mark.parametrize(("edges", "nodes", "message"), [
    (EDGES + "D:1\tbiolink:treats\tX:9\tinfores:a\t\n", NODES,
     r"line 5 of .*edges\.tsv: object 'X:9' is not a node of nodes\.tsv \(a dangling edge\)"),
    ("subject\tpredicate\tobject\nQ:1\tbiolink:treats\tS:1\n", NODES,
     r"line 2 of .*edges\.tsv: subject 'Q:1' is not a node"),
    (EDGES, NODES + "S:1\tbiolink:Disease\tagain\t\n",
     r"line 5 of .*nodes\.tsv repeats node id 'S:1' \(first at line 3 of"),
    ("subject\tpredicate\tobject\nD:1|G:1\tbiolink:treats\tS:1\n", NODES,
     r"line 2 of .*edges\.tsv: 'subject' has 2 values \['D:1', 'G:1'\], expected exactly one"),
    ("subject\tpredicate\tobject\nD:1\t\tS:1\n", NODES,
     r"line 2 of .*edges\.tsv: 'predicate' has no value"),
    ("subject\tpredicate\tobject\nD:1\tbiolink:treats\n", NODES,
     r"line 2 of .*edges\.tsv has 2 columns, the header has 3"),
    ("subject\tobject\nD:1\tS:1\n", NODES, r"line 2 of .*edges\.tsv: 'predicate' has no value"),
    (EDGES, "id\tname\n\tnameless\n", r"line 2 of .*nodes\.tsv: 'id' has no value"),
])
def test_bad_files_are_refused_naming_file_and_line(tmp_path, edges, nodes, message):
    folder = _write(tmp_path / "bad", nodes, edges)
    with pytest.raises(ValueError, match=message):
        load_dataset(folder)


def test_jsonl_and_gzip_and_prefixed_names(tmp_path):
    nodes = [{"id": "D:1", "category": ["biolink:NamedThing", "biolink:SmallMolecule"],
              "name": "drug one"},
             {"id": "S:1", "category": ["biolink:Disease"], "name": "disease one"},
             {"id": "G:1", "category": ["biolink:Gene", "biolink:Protein"]}]
    edges = [{"subject": "D:1", "predicate": "biolink:treats", "object": "S:1",
              "publications": ["PMID:1", "PMID:2"]},
             {"subject": "D:1", "predicate": "biolink:affects", "object": "G:1"},
             {"subject": "G:1", "predicate": "biolink:related_to", "object": "S:1"}]
    folder = tmp_path / "j"
    folder.mkdir()
    with gzip.open(folder / "robokop_nodes.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(x) + "\n" for x in nodes))
    (folder / "robokop_edges.jsonl").write_text("".join(json.dumps(x) + "\n" for x in edges))
    kg = load_dataset(folder)
    tsv = load_dataset(_write(tmp_path / "t", stem="robokop_"))
    assert kg.entity_to_id == tsv.entity_to_id and kg.relation_to_id == tsv.relation_to_id
    assert kg.training.tolist() == tsv.training.tolist()
    assert (kg.entity_names, kg.entity_kinds, kg.entity_categories) == (
        tsv.entity_names, tsv.entity_kinds, tsv.entity_categories)
    (folder / "robokop_edges.jsonl").write_text(json.dumps(edges[0]) + "\n[1, 2]\n{oops\n")
    with pytest.raises(ValueError, match=r"line 2 of .*robokop_edges\.jsonl is a JSON list"):
        load_dataset(folder)


def test_two_node_files_are_refused(tmp_path):
    folder = _write(tmp_path / "two")
    shutil.copy(folder / "nodes.tsv", folder / "other_nodes.tsv")
    with pytest.raises(ValueError, match=r"exactly one KGX node file.*nodes\.tsv.*other_nodes"):
        read_kgx_dataset(folder)


def test_repeated_edges_are_dropped_by_default(tmp_path, caplog):
    edges = EDGES + "D:1\tbiolink:treats\tS:1\tinfores:other\t\n"
    with caplog.at_level(logging.WARNING):
        kg = load_dataset(_write(tmp_path / "d", edges=edges))
    assert len(kg.training) == 3 and "dropped 1 repeated training triples of 4" in caplog.text
    assert len(load_dataset(tmp_path / "d", duplicates="keep").training) == 4


def test_label_tsv_duplicates_are_dropped_by_default_as_documented(tmp_path):
    (tmp_path / "train.txt").write_text("a\tr\tb\na\tr\tb\nb\tr\tc\n")
    assert len(load_dataset(tmp_path).training) == 2
    assert len(load_dataset(tmp_path, duplicates="keep").training) == 3


def test_node_table_with_category_lists_gives_the_most_specific_kind(tmp_path):
    (tmp_path / "train.txt").write_text("D:1\ttreats\tS:1\n")
    (tmp_path / "entities.tsv").write_text(
        "id\tname\tcategory\nD:1\tdrug\tbiolink:ChemicalEntity|biolink:SmallMolecule\n"
        "S:1\tdisease\tbiolink:Disease\n")
    kg = load_dataset(tmp_path)
    assert kg.entity_kinds == {0: "biolink:SmallMolecule", 1: "biolink:Disease"}
    assert kg.entity_categories[0] == ("biolink:ChemicalEntity", "biolink:SmallMolecule")


# --------------------------------------------------------------------------- from_dataframe


def test_from_dataframe_with_and_without_pandas_objects():
    pd = pytest.importorskip("pandas")  # a dev dependency: present in CI
    edges = pd.DataFrame({"subject": ["D:1", "D:1", "G:1"],
                          "predicate": ["biolink:treats", "biolink:affects", "biolink:related_to"],
                          "object": ["S:1", "G:1", "S:1"], "knowledge_level": ["a", None, "b"]})
    nodes = pd.DataFrame({"id": ["D:1", "S:1", "G:1"], "name": ["drug one", "disease one", None],
                          "category": ["biolink:SmallMolecule|biolink:NamedThing",
                                       "biolink:Disease", ["biolink:Gene", "biolink:Protein"]]})
    kg = from_dataframe(edges, nodes, name="df")
    assert kg.summary() == "df: 3 entities, 3 relations, 3/0/0 train/valid/test triples"
    assert kg.entity_kinds == {0: "biolink:SmallMolecule", 1: "biolink:Protein",
                               2: "biolink:Disease"}
    plain = from_dataframe({"h": ["a", "b"], "r": ["x", "x"], "t": ["b", "c"]},
                           subject="h", predicate="r", object="t")
    assert plain.id_to_entity == ["a", "b", "c"] and plain.training.tolist() == [[0, 0, 1],
                                                                                  [1, 0, 2]]
    with pytest.raises(ValueError, match=r"row 1 of the edges: object 'X' is not a node"):
        from_dataframe({"subject": ["D:1", "D:1"], "predicate": ["p", "p"],
                        "object": ["S:1", "X"]}, nodes)
    with pytest.raises(ValueError, match=r"edges lack columns \['predicate'\]"):
        from_dataframe({"subject": ["a"], "object": ["b"]})


# --------------------------------------------------------------------------- the command line


def test_cli_split_train_predict_explain_on_kgx(tmp_path, capsys):
    from kgif.cli import main

    split_dir, run = tmp_path / "split", tmp_path / "run"
    assert main(["split", "--dataset", str(FIXTURE), "--relation", "biolink:treats",
                 "--valid", "0.25", "--test", "0.25", "--seed", "3",
                 "--output-dir", str(split_dir)]) == 0
    assert "30 entities, 5 relations, 82/6/6 train/valid/test triples" in capsys.readouterr().out
    assert main(["train", "--dataset", str(split_dir), "--epochs", "2", "--embedding-dim", "12",
                 "--output-channels", "4", "--eval-every", "1", "--checkpoint-every", "1",
                 "--output-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    queries = tmp_path / "q.tsv"
    queries.write_text(f"# queries, with comments\n{LONG_CURIE}\tbiolink:treats\t?\n"
                       "drugbank:DB00997\tbiolink:treats\t?\n")
    assert main(["predict", "--checkpoint", str(run / "best.pt"), "--file", str(queries),
                 "--top-k", "8", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (f"{LONG_NAME} ({LONG_CURIE}) [biolink:SmallMolecule] --biolink:treats--> ?"
            in printed)
    assert "doxorubicin (DRUGBANK:DB00997) [biolink:SmallMolecule] --biolink:treats--> ?" in printed
    assert "biolink:Disease" in printed and "MONDO:" in printed
    tests = tmp_path / "t.tsv"
    tests.write_text(f"# a comment line\n{LONG_CURIE}\tbiolink:treats\tMONDO:0005812\n")
    assert main(["explain", "--checkpoints", str(run / "checkpoints"), "--test-file",
                 str(tests), "--test-relation", "biolink:treats", "--limit", "1",
                 "--top-k", "3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    head = f"{LONG_NAME} ({LONG_CURIE}) [biolink:SmallMolecule]"
    assert f"{head} --biolink:treats--> influenza (MONDO:0005812) [biolink:Disease]" in printed
    proponent_lines = [line for line in printed.splitlines() if line.strip()[:2] == "1."]
    assert len(proponent_lines) == 4  # rank 1 proponent and opponent of each of 2 triples
    assert all(line.rstrip().endswith("]") for line in proponent_lines)  # the tail's kind, uncut


def test_cli_refuses_a_dangling_edge_naming_file_and_line(tmp_path, capsys):
    from kgif.cli import main

    folder = _write(tmp_path / "bad", edges=EDGES + "D:1\tbiolink:treats\tX:9\tinfores:a\t\n")
    assert main(["split", "--dataset", str(folder), "--output-dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert f"line 5 of {folder / 'edges.tsv'}: object 'X:9' is not a node of nodes.tsv" in err
    assert not (tmp_path / "s").exists()

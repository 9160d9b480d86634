"""Tests for kgif.data.datasets: formats round-trip, malformed input is named, unseen policies,
numbering."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from kgif.data.build import from_label_triples
from kgif.data.datasets import data_dir, load_dataset, read_seed_dataset, read_tsv_dataset
from kgif.data.graph import (
    KnowledgeGraph,
    base_relation,
    forward_relation,
    inverse_of,
    is_inverse,
    with_reciprocals,
)
from kgif.data.pykeen_folder import read_pykeen_triples, write_pykeen_triples
from kgif.data.tsv import read_label_triples, write_label_triples

TRAIN = [("a", "likes", "b"), ("b", "likes", "c"), ("c", "hates", "a")]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def _plain_read(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


# ------------------------------------------------------------------ label TSV


@pytest.mark.parametrize("name", ["triples.txt", "triples.txt.gz"])
def test_label_triples_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_label_triples(path, TRAIN)
    assert read_label_triples(path) == TRAIN
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left behind


def test_label_triples_gz_is_gzip(tmp_path: Path) -> None:
    write_label_triples(tmp_path / "t.txt.gz", TRAIN)
    with gzip.open(tmp_path / "t.txt.gz", "rt") as f:
        assert f.readline() == "a\tlikes\tb\n"


def test_label_triples_skip_blank_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes(b"a\tr\tb\r\n\r\n\nb\tr\tc\n")
    assert read_label_triples(tmp_path / "t.txt") == [("a", "r", "b"), ("b", "r", "c")]


@pytest.mark.parametrize(("bad", "columns"), [("x\ty", 2), ("x\ty\tz\tw", 4)])
def test_label_triples_wrong_columns(tmp_path: Path, bad: str, columns: int) -> None:
    path = _write_lines(tmp_path / "train.txt", ["a\tr\tb", "", bad])
    with pytest.raises(ValueError, match=f"line 3 of .*train.txt has {columns} columns"):
        read_label_triples(path)


def test_write_label_triples_rejects_tab_in_label(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="triple 0"):
        write_label_triples(tmp_path / "t.txt", [("a\tb", "r", "c")])
    assert not any(tmp_path.iterdir())  # atomic: nothing written


# ------------------------------------------------------------------ from_label_triples


def test_from_label_triples_sorted_ids() -> None:
    kg = from_label_triples(TRAIN, name="toy")
    assert kg.entity_to_id == {"a": 0, "b": 1, "c": 2}
    assert kg.relation_to_id == {"hates": 0, "likes": 1}
    assert kg.training.tolist() == [[0, 1, 1], [1, 1, 2], [2, 0, 0]]
    assert kg.training.dtype == torch.int64
    assert kg.validation.shape == (0, 3) and kg.testing.shape == (0, 3)
    assert kg.summary() == "toy: 3 entities, 2 relations, 3/0/0 train/valid/test triples"


def test_ids_match_pykeen_from_labeled_triples() -> None:
    import numpy as np
    from pykeen.triples import TriplesFactory

    rows = [("z", "r2", "B"), ("a", "r1", "Z"), ("_x", "R", "a")]
    tf = TriplesFactory.from_labeled_triples(np.array(rows))
    kg = from_label_triples(rows)
    assert kg.entity_to_id == tf.entity_to_id
    assert kg.relation_to_id == tf.relation_to_id
    assert sorted(kg.training.tolist()) == sorted(tf.mapped_triples.tolist())  # PyKEEN sorts rows


UNSEEN_TEST = [("a", "likes", "c"), ("a", "likes", "new")]


def test_unseen_drop_warns_with_count() -> None:
    with pytest.warns(UserWarning, match="dropped 1 of 2 test triples"):
        kg = from_label_triples(TRAIN, test=UNSEEN_TEST, unseen="drop")
    assert kg.testing.tolist() == [[0, 1, 2]]
    assert kg.num_entities == 3


def test_unseen_keep_appends_ids_and_warns() -> None:
    with pytest.warns(UserWarning) as record:
        kg = from_label_triples(TRAIN, valid=[("zz", "new_rel", "a")], test=UNSEEN_TEST,
                                unseen="keep")
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "kept 1 of 1 validation triples" in messages[0]
    assert "kept 1 of 2 test triples" in messages[1]
    assert kg.entity_to_id == {"a": 0, "b": 1, "c": 2, "new": 3, "zz": 4}
    assert kg.relation_to_id == {"hates": 0, "likes": 1, "new_rel": 2}
    assert kg.validation.tolist() == [[4, 2, 0]]
    assert kg.testing.tolist() == [[0, 1, 2], [0, 1, 3]]


def test_unseen_error_names_triple() -> None:
    with pytest.raises(ValueError, match="'new'"):
        from_label_triples(TRAIN, test=UNSEEN_TEST, unseen="error")


def test_unseen_bad_policy() -> None:
    with pytest.raises(ValueError, match="'ignore'"):
        from_label_triples(TRAIN, unseen="ignore")


def test_all_seen_is_silent() -> None:
    kg = from_label_triples(TRAIN, test=[("a", "hates", "b")])  # warnings are errors here
    assert kg.testing.tolist() == [[0, 0, 1]]


# ------------------------------------------------------------------ KnowledgeGraph


def test_resolve_entity_and_relation() -> None:
    kg = from_label_triples(TRAIN)
    assert kg.resolve_entity("b") == 1
    assert kg.resolve_entity(2) == 2
    assert kg.resolve_entity("2") == 2
    assert kg.resolve_relation("likes") == 1
    assert kg.resolve_triples([("a", "likes", 2), (1, "0", "c")]).tolist() == [[0, 1, 2],
                                                                             [1, 0, 2]]
    assert kg.resolve_triples([]).shape == (0, 3)


def test_resolve_entity_unknown_suggests_close_match() -> None:
    kg = from_label_triples([("aspirin", "treats", "headache")])
    with pytest.raises(KeyError, match="'asprin'.*close matches: 'aspirin'"):
        kg.resolve_entity("asprin")
    with pytest.raises(KeyError, match="'treat'.*'treats'"):
        kg.resolve_relation("treat")
    with pytest.raises(KeyError, match="7"):
        kg.resolve_entity(7)


def test_labels_take_precedence_over_digit_ids() -> None:
    kg = from_label_triples([("1", "r", "0")])  # labels "0" -> 0, "1" -> 1
    kg2 = from_label_triples([("10", "r", "5")])  # "10" -> 0, "5" -> 1
    assert kg.resolve_entity("1") == 1
    assert kg2.resolve_entity("5") == 1 and kg2.resolve_entity("0") == 0


def test_names_fall_back_to_labels() -> None:
    kg = from_label_triples(TRAIN)
    kg.entity_names = {0: "Alice"}
    assert kg.entity_name(0) == "Alice" and kg.entity_name(1) == "b"
    assert kg.relation_name(0) == "hates"
    assert kg.id_to_entity == ["a", "b", "c"] and kg.id_to_relation == ["hates", "likes"]


def test_all_triples_concatenates() -> None:
    kg = from_label_triples(TRAIN, valid=[("a", "hates", "b")], test=[("b", "hates", "c")])
    assert kg.all_triples().shape == (5, 3)
    assert torch.equal(kg.all_triples()[-1], kg.testing[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"training": torch.tensor([[0, 0, 5]])}, "tail ids"),
     ({"training": torch.zeros(2, 2, dtype=torch.long)}, "shape"),
     ({"entity_to_id": {"a": 0, "b": 2}}, "contiguous")],
)
def test_knowledge_graph_validates(kwargs: dict, match: str) -> None:
    args = {"entity_to_id": {"a": 0, "b": 1}, "relation_to_id": {"r": 0},
            "training": torch.tensor([[0, 0, 1]])} | kwargs
    with pytest.raises(ValueError, match=match):
        KnowledgeGraph(**args)


# ------------------------------------------------------------------ reciprocals


def test_with_reciprocals_numbering() -> None:
    triples = torch.tensor([[0, 0, 1], [2, 3, 4], [5, 1, 6]])
    n = len(triples)
    rec = with_reciprocals(triples)
    assert rec.shape == (2 * n, 3) and rec.dtype == torch.int64
    for i, (h, r, t) in enumerate(triples.tolist()):
        assert rec[i].tolist() == [h, 2 * r, t]
        assert rec[i + n].tolist() == [t, 2 * r + 1, h]
    assert torch.equal(base_relation(rec[:, 1]), torch.cat([triples[:, 1], triples[:, 1]]))
    assert is_inverse(rec[:, 1]).tolist() == [False] * n + [True] * n
    assert forward_relation(3) == 6 and inverse_of(3) == 7
    assert with_reciprocals(torch.empty(0, 3, dtype=torch.long)).shape == (0, 3)


# ------------------------------------------------------------------ TSV datasets


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_tsv_dataset_round_trip(tmp_path: Path, suffix: str) -> None:
    write_label_triples(tmp_path / f"train{suffix}", TRAIN)
    write_label_triples(tmp_path / f"test{suffix}", [("c", "likes", "b")])
    kg = read_tsv_dataset(tmp_path)
    ref = from_label_triples(TRAIN, test=[("c", "likes", "b")])
    assert kg.entity_to_id == ref.entity_to_id and kg.relation_to_id == ref.relation_to_id
    assert torch.equal(kg.training, ref.training) and torch.equal(kg.testing, ref.testing)
    assert kg.validation.shape == (0, 3)
    assert kg.name == tmp_path.name


def test_tsv_dataset_missing_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.txt"):
        read_tsv_dataset(tmp_path)


def test_tsv_dataset_unseen_warns_per_split(tmp_path: Path) -> None:
    write_label_triples(tmp_path / "train.txt", TRAIN)
    write_label_triples(tmp_path / "valid.txt", [("a", "likes", "q")])
    write_label_triples(tmp_path / "test.txt", UNSEEN_TEST)
    with pytest.warns(UserWarning) as record:
        kg = read_tsv_dataset(tmp_path)
    messages = [str(w.message) for w in record]
    assert any("dropped 1 of 1 validation" in m for m in messages)
    assert any("dropped 1 of 2 test" in m for m in messages)
    assert kg.validation.shape == (0, 3) and len(kg.testing) == 1


# ------------------------------------------------------------------ seed layout


def _write_seed(folder: Path, *, names: bool = True, edge_map: bool = True) -> None:
    _write_lines(folder / "node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3\t2",
                                            "HP:4\t3"])
    _write_lines(folder / "rel_dict.txt", ["predicate:0\t0", "predicate:1\t1"])
    _write_lines(folder / "train.txt", ["CHEBI:1\tpredicate:0\tMONDO:2",
                                        "NCBIGene:3\tpredicate:1\tMONDO:2"])
    _write_lines(folder / "test.txt", ["CHEBI:1\tpredicate:1\tMONDO:2"])
    if names:
        _write_lines(folder / "node_name_dict.txt", ["aspirin\t0", "disease\t1", "TP53\t2",
                                                     "fever\t3"])
    if edge_map:
        qualified = json.dumps({"predicate": "biolink:affects", "object_aspect_qualifier":
                                "activity", "subject_aspect_qualifier": ""})
        plain = json.dumps({"predicate": "biolink:treats"})
        (folder / "edge_map.json").write_text(json.dumps({plain: "predicate:0",
                                                          qualified: "predicate:1",
                                                          "{}": "predicate:99"}))


def test_seed_dataset_reads_ids_and_names(tmp_path: Path) -> None:
    _write_seed(tmp_path)
    kg = read_seed_dataset(tmp_path)
    assert kg.entity_to_id == {"CHEBI:1": 0, "MONDO:2": 1, "NCBIGene:3": 2, "HP:4": 3}
    assert kg.relation_to_id == {"predicate:0": 0, "predicate:1": 1}
    assert kg.training.tolist() == [[0, 0, 1], [2, 1, 1]]
    assert kg.testing.tolist() == [[0, 1, 1]]
    assert kg.entity_name(2) == "TP53" and kg.entity_label(2) == "NCBIGene:3"
    assert kg.relation_name(0) == "biolink:treats"
    assert kg.relation_name(1) == "biolink:affects (object_aspect_qualifier=activity)"


def test_seed_dataset_keeps_non_sorted_ids_and_gz(tmp_path: Path) -> None:
    _write_lines(tmp_path / "node_dict.txt", ["b\t1", "a\t0"])
    _write_lines(tmp_path / "rel_dict.txt", ["predicate:0\t0"])
    _write_lines(tmp_path / "train.txt.gz", ["b\tpredicate:0\ta"])
    kg = read_seed_dataset(tmp_path)
    assert kg.training.tolist() == [[1, 0, 0]]
    assert load_dataset(tmp_path).entity_to_id == {"b": 1, "a": 0}  # detected as seed layout


def test_seed_dataset_unseen_policies(tmp_path: Path) -> None:
    _write_seed(tmp_path)
    _write_lines(tmp_path / "test.txt", ["CHEBI:1\tpredicate:1\tMONDO:2",
                                         "HP:4\tpredicate:0\tMONDO:2"])  # HP:4 not in training
    with pytest.warns(UserWarning, match="dropped 1 of 2 test triples"):
        assert len(read_seed_dataset(tmp_path).testing) == 1
    with pytest.warns(UserWarning, match="kept 1 of 2 test triples"):
        assert len(read_seed_dataset(tmp_path, unseen="keep").testing) == 2
    with pytest.raises(ValueError, match="HP:4"):
        read_seed_dataset(tmp_path, unseen="error")


@pytest.mark.parametrize(
    ("file", "lines", "match"),
    [("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3"], "has 1 columns"),
     ("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3\t2\tx"], "has 3 columns"),
     ("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3\ttwo"], "index 'two'"),
     ("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3\t1"], "repeats index 1"),
     ("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "NCBIGene:3\t7", "HP:4\t3"], "contiguous"),
     ("node_dict.txt", ["CHEBI:1\t0", "MONDO:2\t1", "CHEBI:1\t2"], "repeats label"),
     ("rel_dict.txt", ["predicate:0\t0", "predicate:1\t1", "predicate:2\t-2"], "index '-2'"),
     ("train.txt", ["CHEBI:1\tpredicate:0\tMONDO:2", "", "CHEBI:1\tpredicate:0\tUNKNOWN:9"],
      "entity 'UNKNOWN:9'.*node_dict.txt"),
     ("test.txt", ["CHEBI:1\tpredicate:0\tMONDO:2", "", "CHEBI:1\tpredicate:7\tMONDO:2"],
      "relation 'predicate:7'.*rel_dict.txt"),
     ("train.txt", ["CHEBI:1\tpredicate:0\tMONDO:2", "", "CHEBI:1\tpredicate:0"],
      "has 2 columns"),
     ("node_name_dict.txt", ["aspirin\t0", "x\t1", "y\t9"], "index 9"),
     ("node_name_dict.txt", ["aspirin\t0", "x\t1", "y\tz"], "index 'z'")],
)
def test_seed_malformed_names_file_and_line(tmp_path: Path, file: str, lines: list[str],
                                            match: str) -> None:
    _write_seed(tmp_path)
    _write_lines(tmp_path / file, lines)
    with pytest.raises(ValueError, match="line 3") as err:
        read_seed_dataset(tmp_path)
    assert f"line 3 of {tmp_path / file}" in str(err.value)
    assert re.search(match, str(err.value))


def test_seed_bad_edge_map_json(tmp_path: Path) -> None:
    _write_seed(tmp_path)
    (tmp_path / "edge_map.json").write_text('{\n"a": "predicate:0",\n oops}')
    with pytest.raises(ValueError, match="line 3 of .*edge_map.json"):
        read_seed_dataset(tmp_path)


def test_seed_optional_files_absent(tmp_path: Path) -> None:
    _write_seed(tmp_path, names=False, edge_map=False)
    kg = read_seed_dataset(tmp_path)
    assert kg.entity_names == {} and kg.relation_names == {}
    assert kg.entity_name(0) == "CHEBI:1"


# ------------------------------------------------------------------ PyKEEN folders


def test_pykeen_round_trip(tmp_path: Path) -> None:
    ent = {"b": 1, "a": 0, 'q"uote': 2}
    rel = {"r0": 0, "r1": 1}
    triples = torch.tensor([[0, 1, 2], [2, 0, 1]])
    write_pykeen_triples(tmp_path / "training_triples", ent, rel, triples)
    ent2, rel2, triples2 = read_pykeen_triples(tmp_path)  # parent of training_triples/ works
    assert ent2 == ent and rel2 == rel and torch.equal(triples2, triples)
    kg = load_dataset(tmp_path / "training_triples")
    assert kg.entity_to_id == ent and torch.equal(kg.training, triples)


def test_pykeen_format_on_disk(tmp_path: Path) -> None:
    write_pykeen_triples(tmp_path, {"x": 0, "y": 1}, {"r": 0}, torch.tensor([[1, 0, 0]]))
    assert _plain_read(tmp_path / "numeric_triples.tsv.gz") == [["head", "relation", "tail"],
                                                               ["1", "0", "0"]]
    assert _plain_read(tmp_path / "entity_to_id.tsv.gz") == [["id", "label"], ["0", "x"],
                                                            ["1", "y"]]


def test_pykeen_bad_line(tmp_path: Path) -> None:
    write_pykeen_triples(tmp_path, {"x": 0, "y": 1}, {"r": 0}, torch.tensor([[1, 0, 0]]))
    _write_lines(tmp_path / "numeric_triples.tsv.gz", ["head\trelation\ttail", "0\t0\t1",
                                                       "1\t0"])
    with pytest.raises(ValueError, match="line 3 of .*numeric_triples.tsv.gz"):
        read_pykeen_triples(tmp_path)


def test_pykeen_reads_our_files_and_we_read_pykeens(tmp_path: Path) -> None:
    import numpy as np
    from pykeen.triples import TriplesFactory

    ent, rel = {"b": 1, "a": 0, "c": 2}, {"r0": 0, "r1": 1}
    triples = torch.tensor([[0, 1, 2], [2, 0, 1]])
    write_pykeen_triples(tmp_path / "ours", ent, rel, triples)
    tf = TriplesFactory.from_path_binary(tmp_path / "ours")
    assert tf.entity_to_id == ent and tf.relation_to_id == rel
    assert torch.equal(tf.mapped_triples, triples)

    theirs = TriplesFactory.from_labeled_triples(np.array(TRAIN), create_inverse_triples=True)
    theirs.to_path_binary(tmp_path / "theirs")
    ent2, rel2, triples2 = read_pykeen_triples(tmp_path / "theirs")
    assert ent2 == theirs.entity_to_id and rel2 == theirs.relation_to_id
    assert torch.equal(triples2, theirs.mapped_triples)


# ------------------------------------------------------------------ load_dataset


def _expected_counts(folder: Path) -> tuple[int, int, int, int, int]:
    """(n_train, N, R, n_valid_seen, n_test_seen) by a plain reading of the files."""
    train = _plain_read(folder / "train.txt")
    ents = {x for h, _, t in train for x in (h, t)}
    rels = {r for _, r, _ in train}
    seen = [sum(h in ents and r in rels and t in ents for h, r, t in _plain_read(folder / s))
            for s in ("valid.txt", "test.txt")]
    return len(train), len(ents), len(rels), *seen


def _hide_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Simulate a fresh machine: no ``KGIF_DATA_DIR`` data and no ``shared/data`` ancestor."""
    import kgif.data.datasets

    monkeypatch.setenv("KGIF_DATA_DIR", str(tmp_path / "nonexistent"))
    monkeypatch.setattr(kgif.data.datasets, "_shared_dirs",
                        lambda: [tmp_path / "no-shared" / "data"])


BUNDLED = Path(__file__).resolve().parents[2] / "kgif" / "data" / "bundled"


@pytest.mark.parametrize(("name", "sizes"), [
    ("umls", (5216, 135, 46)), ("kinships", (8544, 104, 25)), ("nations", (1592, 14, 55)),
])
def test_bundled_dataset_loads_on_a_fresh_machine(name: str, sizes: tuple[int, int, int],
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # sizes: the published statistics (Dettmers et al. 2018; PyKEEN's dataset docs)
    _hide_shared(monkeypatch, tmp_path)
    folder = BUNDLED / name
    train = _plain_read(folder / "train.txt.gz")
    kg = load_dataset(name.upper())  # all valid/test entities occur in training: no warning
    assert (len(kg.training), kg.num_entities, kg.num_relations) == sizes
    assert len(kg.validation) == len(_plain_read(folder / "valid.txt.gz"))
    assert len(kg.testing) == len(_plain_read(folder / "test.txt.gz"))
    assert kg.name == name
    ents = sorted({x for h, _, t in train for x in (h, t)})  # label-sorted ids, as PyKEEN
    assert kg.entity_to_id == {e: i for i, e in enumerate(ents)}
    h, r, t = train[0]
    assert kg.training[0].tolist() == [kg.entity_to_id[h], kg.relation_to_id[r],
                                       kg.entity_to_id[t]]
    assert (folder / "PROVENANCE.md").is_file()


def test_bundled_hetionet_with_node_table(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_shared(monkeypatch, tmp_path)
    kg = load_dataset("hetionet")
    # sizes from the dataset's PROVENANCE.md (Hetionet v1.0, 16 metaedges)
    assert (len(kg.training), len(kg.validation), len(kg.testing)) == (765_569, 76, 151)
    assert (kg.num_entities, kg.num_relations) == (20_829, 16)
    assert kg.kinds == ["Anatomy", "Compound", "Disease", "Gene"]
    assert len(kg.entity_kinds) == kg.num_entities == len(kg.entity_names)
    treats = kg.relation_to_id["TREATS_CtD"]
    assert kg.relation_domain(treats) == {"Compound"}
    assert kg.relation_range(treats) == {"Disease"}
    with gzip.open(BUNDLED / "hetionet" / "entities.tsv.gz", "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    label, name, kind = rows[0]
    i = kg.entity_to_id[label]
    assert (kg.entity_name(i), kg.entity_kind(i)) == (name, kind)


def test_lookup_order_env_before_bundled(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_shared(monkeypatch, tmp_path)
    monkeypatch.setenv("KGIF_DATA_DIR", str(tmp_path / "mine"))
    write_label_triples(tmp_path / "mine" / "nations" / "train.txt", TRAIN)
    kg = load_dataset("nations")
    assert kg.num_entities == 3 and len(kg.training) == 3


def test_lookup_bundled_before_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kgif.data.datasets

    monkeypatch.delenv("KGIF_DATA_DIR", raising=False)
    shared = tmp_path / "shared" / "data"
    write_label_triples(shared / "umls" / "train.txt", TRAIN)
    write_label_triples(shared / "wn18rr" / "train.txt", TRAIN)
    monkeypatch.setattr(kgif.data.datasets, "_shared_dirs", lambda: [shared])
    assert load_dataset("umls").num_entities == 135  # the bundled copy
    assert load_dataset("wn18rr").num_entities == 3  # not bundled: shared/data


def test_load_fb15k237_alias_and_gz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset that is not bundled comes from $KGIF_DATA_DIR (gzip splits), by its name or
    an alias; no real FB15k-237 is needed (a fresh machine has none)."""
    folder = tmp_path / "fb15k237"
    rows = [(f"/m/{i}", f"/r/{i % 3}", f"/m/{(i * 7 + 1) % 11}") for i in range(30)]
    write_label_triples(folder / "train.txt.gz", rows)
    write_label_triples(folder / "test.txt.gz", rows[:4] + [("/m/0", "/r/0", "/m/unseen")])
    monkeypatch.setenv("KGIF_DATA_DIR", str(tmp_path))
    for name in ("FB15k-237", "fb15k237", "fb15k_237"):
        with pytest.warns(UserWarning, match="unseen in training"):
            kg = load_dataset(name)
        assert (len(kg.training), kg.num_relations, len(kg.testing)) == (30, 3, 4)
        assert kg.name == "fb15k237"


def test_load_nations_falls_back_to_pykeen_bundle(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import kgif.data.datasets

    _hide_shared(monkeypatch, tmp_path)
    monkeypatch.setattr(kgif.data.datasets, "bundled_dir", lambda: tmp_path / "no-bundle")
    spec = importlib.util.find_spec("pykeen")
    bundled = Path(spec.origin).parent / "datasets" / "nations"
    n_train, n_ent, n_rel, _, _ = _expected_counts(bundled)
    kg = load_dataset("nations")
    assert (len(kg.training), kg.num_entities, kg.num_relations) == (n_train, n_ent, n_rel)


def test_load_dataset_not_found_lists_places(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_shared(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("wn18rr")
    message = str(info.value)
    assert str(tmp_path / "nonexistent" / "wn18rr") in message
    assert str(tmp_path / "no-shared" / "data" / "wn18rr") in message
    assert "KGIF_DATA_DIR" in message and "hetionet" in message  # how to get it; what is bundled
    with pytest.raises(FileNotFoundError, match="known dataset"):
        load_dataset("no-such-dataset")


def test_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGIF_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("KGIF_DATA_DIR")
    assert data_dir().parts[-2:] == ("shared", "data")

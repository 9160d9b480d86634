"""Knowledge graphs from label triples: id maps, the unseen and duplicate policies.

:func:`from_label_triples` is the one constructor every reader uses (label TSV folders,
the seed layout, KGX files, in-memory tables); :mod:`kgif.data.datasets` finds and reads
dataset folders with it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import numpy as np
import torch

from kgif.data.graph import (
    KnowledgeGraph,
)
from kgif.data.tsv import (
    EncodedTriples,
    LabelTriple,
)

__all__ = ["DUPLICATE_POLICIES", "SPLITS", "UNSEEN_POLICIES", "from_label_triples"]

logger = logging.getLogger(__name__)

UNSEEN_POLICIES = ("drop", "keep", "error")
DUPLICATE_POLICIES = ("drop", "keep", "error")
SPLITS = ("train", "valid", "test")
_SPLIT_NAMES = {"train": "training", "valid": "validation", "test": "test"}


# --------------------------------------------------------------------------- policies


def _check_policy(who: str, what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{who}: {what} must be one of {allowed}, got {value!r}")


def _check_unseen(who: str, unseen: str) -> None:
    _check_policy(who, "unseen", unseen, UNSEEN_POLICIES)


def _unseen_mask(triples: torch.Tensor, ent_seen: torch.Tensor, rel_seen: torch.Tensor
                 ) -> torch.Tensor:
    """``(n,)`` bool: triples whose head, relation or tail is not marked as seen."""
    return ~(ent_seen[triples[:, 0]] & rel_seen[triples[:, 1]] & ent_seen[triples[:, 2]])


def _seen_in(training: torch.Tensor, n_ent: int, n_rel: int) -> tuple[torch.Tensor, torch.Tensor]:
    ent_seen = torch.zeros(n_ent, dtype=torch.bool)
    ent_seen[training[:, [0, 2]].reshape(-1)] = True
    rel_seen = torch.zeros(n_rel, dtype=torch.bool)
    rel_seen[training[:, 1]] = True
    return ent_seen, rel_seen


def _report_unseen(who: str, split: str, unseen: str, n_bad: int, n: int, first: LabelTriple
                   ) -> None:
    """Raise for ``unseen="error"``, else warn that ``n_bad`` of ``n`` were dropped or kept.

    ``stacklevel=3`` points the warning at the public reader calling ``_apply_unseen_*``.
    """
    if unseen == "error":
        raise ValueError(f"{who}: {_SPLIT_NAMES[split]} triple {first} has an entity or relation "
                         f"unseen in training ({n_bad} such triples; pass unseen='drop' or 'keep')")
    verb = "dropped" if unseen == "drop" else "kept"
    warnings.warn(f"{who}: {verb} {n_bad} of {n} {_SPLIT_NAMES[split]} triples with entities or "
                  f"relations unseen in training", UserWarning, stacklevel=3)


def _apply_unseen_ids(who: str, split: str, triples: torch.Tensor, unseen: str,
                      seen: tuple[torch.Tensor, torch.Tensor], labels: tuple[list[str], list[str]]
                      ) -> torch.Tensor:
    """Drop, keep (with a warning) or reject triples whose ids occur in no training triple."""
    bad = _unseen_mask(triples, *seen)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return triples
    h, r, t = triples[bad][0].tolist()
    _report_unseen(who, split, unseen, n_bad, len(triples),
                   (labels[0][h], labels[1][r], labels[0][t]))
    return triples[~bad] if unseen == "drop" else triples


def _first_occurrences(triples: torch.Tensor) -> torch.Tensor:
    """Row indices of the first occurrence of each distinct ``(h, r, t)`` row (int64)."""
    bounds = triples.max(0).values.long() + 1
    if float(bounds[0]) * float(bounds[1]) * float(bounds[2]) < 2.0**62:  # one int64 key per row
        keys = ((triples[:, 0] * bounds[1] + triples[:, 1]) * bounds[2] + triples[:, 2]).numpy()
        _, first = np.unique(keys, return_index=True)
    else:
        _, first = np.unique(triples.numpy(), axis=0, return_index=True)
    return torch.from_numpy(first).long()


def _apply_duplicates(who: str, triples: torch.Tensor, duplicates: str,
                      labels: tuple[list[str], list[str]]) -> torch.Tensor:
    """Count repeated training triples; drop the repeats (first occurrence kept), keep or raise.

    Both ``"drop"`` and ``"keep"`` log a warning with the count; nothing is dropped silently.
    """
    _check_policy(who, "duplicates", duplicates, DUPLICATE_POLICIES)
    if len(triples) < 2:
        return triples
    repeat = torch.ones(len(triples), dtype=torch.bool)
    repeat[_first_occurrences(triples)] = False
    n_rep = int(repeat.sum())
    if n_rep == 0:
        return triples
    h, r, t = triples[repeat][0].tolist()
    example = (labels[0][h], labels[1][r], labels[0][t])
    if duplicates == "error":
        raise ValueError(f"{who}: {n_rep} training triples repeat an earlier one, e.g. {example}; "
                         f"pass duplicates='drop' or 'keep'")
    verb = "dropped" if duplicates == "drop" else "kept"
    logger.warning("%s: %s %d repeated training triples of %d (e.g. %s); duplicates=%r", who,
                   verb, n_rep, len(triples), example, duplicates)
    return triples[~repeat] if duplicates == "drop" else triples


# --------------------------------------------------------------------------- from labels


def _label_ids(vocab: list[str], mapping: dict[str, int]) -> torch.Tensor:
    """``(len(vocab),)`` int64 id of each vocabulary label, ``-1`` where unknown."""
    return torch.tensor([mapping.get(label, -1) for label in vocab], dtype=torch.long)


def _map_encoded(enc: EncodedTriples, ent: dict[str, int], rel: dict[str, int]) -> torch.Tensor:
    """``(n, 3)`` int64 ids of encoded triples (``-1`` for labels not in the maps)."""
    codes = torch.from_numpy(enc.codes).long()
    e, r = _label_ids(enc.entities, ent), _label_ids(enc.relations, rel)
    return torch.stack([e[codes[:, 0]], r[codes[:, 1]], e[codes[:, 2]]], 1).reshape(-1, 3)


def _used(enc: EncodedTriples) -> tuple[set[str], set[str]]:
    """Entity and relation labels that occur in ``enc`` (vocabularies may hold unused ones)."""
    ent_used = np.zeros(len(enc.entities), dtype=bool)
    ent_used[enc.codes[:, 0]] = True
    ent_used[enc.codes[:, 2]] = True
    rel_used = np.zeros(len(enc.relations), dtype=bool)
    rel_used[enc.codes[:, 1]] = True
    return ({enc.entities[i] for i in np.flatnonzero(ent_used).tolist()},
            {enc.relations[i] for i in np.flatnonzero(rel_used).tolist()})


def _extend_ids(mapping: dict[str, int], labels: Iterable[str]) -> int:
    """Append unseen labels (sorted) after the existing ids; return how many were added."""
    new = sorted(set(labels) - mapping.keys())
    for label in new:
        mapping[label] = len(mapping)
    return len(new)


def _held_out(who: str, split: str, enc: EncodedTriples, ent: dict[str, int],
              rel: dict[str, int], unseen: str) -> EncodedTriples:
    """``enc`` after the unseen policy (``"drop"`` removes triples with unknown labels)."""
    bad = (_map_encoded(enc, ent, rel) < 0).any(1)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return enc
    _report_unseen(who, split, unseen, n_bad, len(enc), enc.row(int(bad.nonzero()[0, 0])))
    if unseen == "keep":
        return enc
    return EncodedTriples(enc.codes[~bad.numpy()], enc.entities, enc.relations)


def _graph_from_encoded(who: str, splits: dict[str, EncodedTriples], unseen: str,
                        duplicates: str, name: str) -> KnowledgeGraph:
    """Label-sorted ids from the training triples, then the unseen and duplicate policies."""
    _check_unseen(who, unseen)
    _check_policy(who, "duplicates", duplicates, DUPLICATE_POLICIES)
    if len(splits["train"]) == 0:
        raise ValueError(f"{who}: no training triples")
    ents, rels = _used(splits["train"])
    ent = {label: i for i, label in enumerate(sorted(ents))}
    rel = {label: i for i, label in enumerate(sorted(rels))}
    for split in ("valid", "test"):
        splits[split] = _held_out(who, split, splits[split], ent, rel, unseen)
    if unseen == "keep":
        held = [_used(splits[s]) for s in ("valid", "test")]
        n_e = _extend_ids(ent, held[0][0] | held[1][0])
        n_r = _extend_ids(rel, held[0][1] | held[1][1])
        logger.info("%s: appended %d entities and %d relations unseen in training", who, n_e, n_r)
    triples = {s: _map_encoded(splits[s], ent, rel) for s in SPLITS}
    labels = (_invert_ids(ent), _invert_ids(rel))
    train = _apply_duplicates(who, triples["train"], duplicates, labels)
    return KnowledgeGraph(ent, rel, train, triples["valid"], triples["test"], name=name)


def _invert_ids(mapping: dict[str, int]) -> list[str]:
    labels = [""] * len(mapping)
    for label, i in mapping.items():
        labels[i] = label
    return labels


def from_label_triples(train: Iterable[LabelTriple], valid: Iterable[LabelTriple] = (),
                       test: Iterable[LabelTriple] = (), *, unseen: str = "drop",
                       duplicates: str = "drop", name: str = "") -> KnowledgeGraph:
    """Build a :class:`KnowledgeGraph` from label triples.

    Ids are the sorted labels of the **training** triples, as in PyKEEN's
    ``TriplesFactory.from_labeled_triples``.

    Args:
        train: ``(head, relation, tail)`` label triples; must be non-empty.
        valid: Validation label triples.
        test: Test label triples.
        unseen: What to do with valid/test triples whose entity or relation does not occur in
            training: ``"drop"`` removes them, ``"keep"`` appends the new labels (sorted) after
            the training ids; both warn with the count per split. ``"error"`` raises.
        duplicates: What to do with training triples that repeat an earlier one: ``"drop"``
            (default; PyKEEN's ``TriplesFactory`` also keeps each triple once) keeps the first
            occurrence, ``"keep"`` keeps them all (they then count twice in training and appear
            twice as TracIn proponents); both log a warning with the count. ``"error"`` raises.
        name: Dataset name.

    Returns:
        The graph with ``training``, ``validation``, ``testing`` as ``(n, 3)`` int64 ids.

    Raises:
        ValueError: Empty training set, a bad policy, ``unseen="error"`` with an unseen triple
            or ``duplicates="error"`` with a repeated one (names the first one).
    """
    splits = {"train": EncodedTriples.from_labels(train),
              "valid": EncodedTriples.from_labels(valid),
              "test": EncodedTriples.from_labels(test)}
    return _graph_from_encoded("from_label_triples", splits, unseen, duplicates, name)


# --------------------------------------------------------------------------- dataset folders



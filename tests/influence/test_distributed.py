"""Sharded TracIn over torch.distributed (gloo, 2 CPU ranks) against one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import small_conve
from tolerances import ATOL64, RTOL64

from kgif.bench.common import random_triples
from kgif.data.datasets import load_dataset
from kgif.data.tsv import write_label_triples
from kgif.influence.distributed import Context, ShardedTracIn, shard_range
from kgif.influence.topk import KMostInfluentialResults, TopK, merge_topk
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
N_ENT, N_REL, N_TRAIN, K = 10, 3, 37, 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("block", [1, 3, 4])
def test_shard_range_covers_rows_once_on_block_boundaries(block):
    for n in (0, 1, 7, 10, 13):
        for world in (1, 2, 3, 4):
            ranges = [shard_range(n, r, world, block) for r in range(world)]
            rows = [i for a, b in ranges for i in range(a, b)]
            assert rows == list(range(n))
            assert all(a % block == 0 or a == n for a, _ in ranges)  # shards start batches
            blocks = [-(-(b - a) // block) for a, b in ranges]
            assert max(blocks) - min(blocks) <= 1
    with pytest.raises(ValueError, match="rank=2"):
        shard_range(5, 2, 2)
    with pytest.raises(ValueError, match="block=0"):
        shard_range(5, 0, 2, 0)


@pytest.mark.parametrize("largest", [True, False])
def test_merge_topk_equals_streaming_topk_with_ties(largest):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (6, 23), generator=gen).double()  # many ties
    reference = TopK(6, K, largest, scores)
    reference.update(scores, torch.arange(23))
    parts = []
    for start, stop in (shard_range(23, r, 3) for r in range(3)):
        local = TopK(6, K, largest, scores)
        local.update(scores[:, start:stop], torch.arange(start, stop))
        parts.append(local.result())
    merged = merge_topk(parts, K, largest)
    assert torch.equal(merged.indices, reference.result().indices)
    assert torch.equal(merged.influence_scores, reference.result().influence_scores)


def test_merge_topk_puts_padding_last():
    part = KMostInfluentialResults(torch.tensor([[5, -1]]), torch.tensor([[-2.0, float("nan")]]))
    other = KMostInfluentialResults(torch.tensor([[9, -1]]), torch.tensor([[-1.0, float("nan")]]))
    merged = merge_topk([part, other], 3, largest=True)
    assert merged.indices.tolist() == [[9, 5, -1]]


def _setup():
    config, params, buffers = small_conve(seed=4, num_entities=N_ENT, num_relations=N_REL)
    ckpts = [Checkpoint(params, buffers, config, 0.5, epoch=1)]
    train = random_triples(N_TRAIN, N_ENT, N_REL, seed=5)
    test = random_triples(3, N_ENT, N_REL, seed=6)
    gen = torch.Generator().manual_seed(7)
    candidates = [torch.sort(torch.randperm(N_TRAIN, generator=gen)[:n]).values
                  for n in (25, 2, 0)]  # 2 < K and an empty set: padding on both ranks
    return ckpts, train, test, candidates


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        ckpts, train, test, candidates = _setup()
        sharded = ShardedTracIn(TracIn(ckpts, train, batch_size=5), Context(rank, world, rank))
        results = {"all": sharded.top_influences(test, K),
                   "candidates": sharded.top_influences(test, K, candidates=candidates)}
        if rank == 0:
            torch.save({k: [tuple(r) for r in v] for k, v in results.items()}, out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    ckpts, train, test, candidates = _setup()
    tracin = TracIn(ckpts, train, batch_size=5)
    expected = {"all": tracin.top_influences(test, K),
                "candidates": tracin.top_influences(test, K, candidates=candidates)}
    for key, pair in expected.items():
        for (indices, scores), want in zip(got[key], pair, strict=True):
            width = want.indices.shape[1]
            assert torch.equal(indices[:, :width], want.indices), key
            assert (indices[:, width:] == -1).all()
            torch.testing.assert_close(scores[:, :width], want.influence_scores, rtol=RTOL64,
                                       atol=ATOL64, equal_nan=True)


def test_torchrun_cli_equals_single_process(tmp_path):
    names = [f"e{i}" for i in range(N_ENT)]
    rels = ["a", "b", "c"]
    train = random_triples(N_TRAIN, N_ENT, N_REL, seed=5).tolist()
    train += [[i, 0, (i + 1) % N_ENT] for i in range(N_ENT)]
    write_label_triples(tmp_path / "data" / "train.txt",
                        [(names[h], rels[r], names[t]) for h, r, t in train])
    write_label_triples(tmp_path / "tests.tsv", [("e1", "a", "e2"), ("e3", "b", "e4"),
                                                 ("e5", "c", "e0")])
    kg = load_dataset(tmp_path / "data")
    config, params, buffers = small_conve(seed=4, num_entities=kg.num_entities,
                                          num_relations=kg.num_relations)
    save_checkpoint(Checkpoint(params, buffers, config, 0.5, epoch=1,
                               entity_to_id=kg.entity_to_id, relation_to_id=kg.relation_to_id),
                    tmp_path / "ckpts" / "c1.pt")
    args = ["-m", "kgif", "explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset",
            str(tmp_path / "data"), "--test-file", str(tmp_path / "tests.tsv"), "--top-k", "3",
            "--batch-size", "6", "--no-progress", "--quiet", "--output-dir"]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env |= {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    for command in (torchrun + args + [str(tmp_path / "two")],
                    [sys.executable] + args + [str(tmp_path / "one")]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    two = json.loads((tmp_path / "two" / "explanations.json").read_text())["results"]
    one = json.loads((tmp_path / "one" / "explanations.json").read_text())["results"]
    assert len(two) == len(one) == 3
    for a, b in zip(two, one, strict=True):
        assert [x["train_index"] for x in a["influences"]] == [
            x["train_index"] for x in b["influences"]]
        for x, y in zip(a["influences"], b["influences"], strict=True):
            assert x["influence"] == pytest.approx(y["influence"], rel=RTOL64, abs=ATOL64)
            assert x["self_influence"] == pytest.approx(y["self_influence"], rel=RTOL64,
                                                        abs=ATOL64)

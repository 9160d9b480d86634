"""Test helpers: small random ConvE models in float64, dataset location."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import torch

from kgif.bench.common import random_triples
from kgif.data.build import from_label_triples
from kgif.data.datasets import load_dataset
from kgif.data.graph import KnowledgeGraph
from kgif.data.tsv import write_label_triples
from kgif.model.checkpoint import save_checkpoint
from kgif.model.conve import ConvEConfig, init_conve

DATA_DIR = Path(
    os.environ.get("KGIF_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def load_benchmark_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomize_buffers(buffers: dict, generator: torch.Generator) -> dict:
    """Non-trivial BatchNorm running statistics, so eval-mode BN is not the identity."""
    out = {}
    for name, value in buffers.items():
        if name.endswith("running_mean"):
            out[name] = 0.3 * torch.randn(value.shape, generator=generator, dtype=value.dtype)
        elif name.endswith("running_var"):
            out[name] = 0.5 + torch.rand(value.shape, generator=generator, dtype=value.dtype)
        else:
            out[name] = value
    return out


def small_conve(
    seed: int = 0,
    num_entities: int = 11,
    num_relations: int = 3,
    dtype: torch.dtype = torch.float64,
    **overrides,
):
    """A tiny ConvE (d = 12 as 3x4, 4 channels) with random biases and BN statistics."""
    kwargs = dict(embedding_dim=12, embedding_height=3, embedding_width=4, output_channels=4)
    kwargs.update(overrides)
    config = ConvEConfig(**kwargs)
    params, buffers = init_conve(config, num_entities, num_relations, seed=seed, dtype=dtype)
    gen = torch.Generator().manual_seed(seed + 1000)
    params = {k: v + 0.1 * torch.randn(v.shape, generator=gen, dtype=dtype)
              for k, v in params.items()}
    return config, params, randomize_buffers(buffers, gen)


def pykeen_state(params, buffers):
    """kgif names -> PyKEEN ConvE state-dict keys (test-local, independent of kgif)."""
    rename = {"bn0": "interaction.hr2d.0", "conv": "interaction.hr2d.2",
              "bn1": "interaction.hr2d.3", "fc": "interaction.hr1d.0", "bn2": "interaction.hr1d.2"}
    state = {}
    for name, value in {**params, **buffers}.items():
        if name == "entity_embedding":
            state["entity_representations.0._embeddings.weight"] = value
        elif name == "entity_bias":
            state["entity_representations.1._embeddings.weight"] = value[:, None]
        elif name == "relation_embedding":
            state["relation_representations.0._embeddings.weight"] = value
        else:
            layer, attr = name.split(".", 1)
            state[f"{rename[layer]}.{attr}"] = value
    return state


def graph_checkpoints(kg, dtype: torch.dtype = torch.float64):
    """Two small random checkpoints (epochs 1, 2; learning rates 0.2, 0.1) sized for ``kg``."""
    from kgif.model.checkpoint import Checkpoint

    out = []
    for seed, lr in ((1, 0.2), (2, 0.1)):
        config, params, buffers = small_conve(seed=seed, num_entities=kg.num_entities,
                                              num_relations=kg.num_relations, dtype=dtype)
        out.append(Checkpoint(params, buffers, config, lr, epoch=seed,
                              entity_to_id=kg.entity_to_id, relation_to_id=kg.relation_to_id,
                              run_id="graph-checkpoints"))  # one run (check_same_run)
    return out


# --------------------------------------------------------------------------- shared by test files


TINY = dict(embedding_dim=12, embedding_height=3, embedding_width=4, output_channels=4)


def _tiny_graph(num_entities=12, num_relations=3, n=80, seed=0) -> KnowledgeGraph:
    triples = torch.unique(random_triples(n, num_entities, num_relations, seed), dim=0)
    perm = torch.randperm(len(triples), generator=torch.Generator().manual_seed(seed + 1))
    triples = triples[perm]
    return KnowledgeGraph({f"e{i}": i for i in range(num_entities)},
                          {f"r{i}": i for i in range(num_relations)},
                          training=triples[10:], validation=triples[:5], testing=triples[5:10],
                          name="tiny")


REPO = Path(__file__).resolve().parents[1]


def _kg(n_ent: int = 12, n_train: int = 40, n_test: int = 7, seed: int = 1):
    names = [f"ent/{i}" for i in range(n_ent)]  # a slash, to exercise sanitising
    rels = ["treats", "causes", "is a"]
    train = random_triples(n_train, n_ent, 3, seed=seed).tolist()
    train += [[i, 2, (i + 1) % n_ent] for i in range(n_ent)]
    test = random_triples(n_test, n_ent, 3, seed=seed + 1).tolist()
    label = [(names[h], rels[r], names[t]) for h, r, t in train]
    return from_label_triples(label, test=[(names[h], rels[r], names[t]) for h, r, t in test],
                              name="toy", unseen="keep")


def _write_run_inputs(tmp_path: Path, n_test: int):
    kg = _kg(n_ent=30, n_train=1500, n_test=n_test, seed=3)
    folder = tmp_path / "data"
    write_label_triples(folder / "train.txt", [
        (kg.entity_label(h), kg.relation_label(r), kg.entity_label(t))
        for h, r, t in kg.training.tolist()])
    tests = [(kg.entity_label(h), kg.relation_label(r), kg.entity_label(t))
             for h, r, t in kg.testing.tolist()]
    write_label_triples(tmp_path / "tests.tsv", tests)
    kg = load_dataset(folder)
    for ckpt in graph_checkpoints(kg):
        save_checkpoint(ckpt, tmp_path / "ckpts" / f"checkpoint_epoch_{ckpt.epoch:04d}.pt")
    return kg


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _per_triple(out: Path) -> dict[str, bytes]:
    names = [p for p in out.iterdir() if p.name[:5].isdigit()]
    return {p.name: p.read_bytes() for p in names}


def _run_args(tmp_path: Path, out: Path) -> list[str]:
    """``explain`` over the inputs :func:`_write_run_inputs` wrote, top-2, into ``out``."""
    return ["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset",
            str(tmp_path / "data"), "--test-file", str(tmp_path / "tests.tsv"), "--top-k", "2",
            "--output-dir", str(out), "--no-progress", "--quiet"]


def nondirect_paths_brute_force(kg, head, tail, direct):
    """Every simple path of 2-3 training edges head ~ tail avoiding direct relations."""
    train = kg.training.tolist()
    out = []

    def walk(nodes, edges):
        if len(edges) >= 2 and nodes[-1] == tail:
            out.append((tuple(nodes), tuple(edges)))
        if len(edges) == 3 or (edges and nodes[-1] == tail):
            return
        for e, (a, r, b) in enumerate(train):
            if r in direct:
                continue
            for x, y in ((a, b), (b, a)):
                if x == nodes[-1] and y not in nodes:
                    walk(nodes + [y], edges + [e])

    walk([head], [])
    return out


def kill_when(command: list[str], cwd, ready, what: str, poll: float = 0.005) -> None:
    """Start ``command`` (with :func:`_env`), SIGKILL it as soon as ``ready()`` is true; fails
    if it exits first or nothing is ready within 120 s (``what`` names the awaited file)."""
    import signal
    import subprocess
    import time

    process = subprocess.Popen(command, env=_env(), cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not ready():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, f"no {what} appeared"
            time.sleep(poll)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.stderr.close()

"""kgif: TracIn training-data influence for knowledge-graph embeddings (ConvE).

A flat public API over focused modules::

    from kgif import load_dataset, ConvEConfig, TracIn, load_checkpoints, explain
"""

from kgif._version import __version__ as __version__
from kgif.data.datasets import load_dataset
from kgif.data.graph import KnowledgeGraph, TailIndex, with_reciprocals
from kgif.data.kgx import from_dataframe, read_kgx_dataset
from kgif.data.split import split, write_split
from kgif.evaluation.predict import Query, make_query, predict, predict_batch, read_queries
from kgif.evaluation.ranks import evaluate, evaluate_all_sides
from kgif.explanation.explanation import Explanation, explain, relation_summary
from kgif.explanation.network import write_network
from kgif.explanation.paths import enumerate_paths, rank_paths
from kgif.explanation.plot import plot_explanation, write_figures
from kgif.explanation.tables import (
    format_predictions,
    read_predictions,
    to_dataframe,
    write_csv,
    write_json,
    write_predictions,
)
from kgif.influence.candidates import Adjacency, candidate_edges, candidate_edges_batch, k_hop_nodes
from kgif.influence.distributed import ShardedTracIn
from kgif.influence.grads import PARAMETER_GROUPS, per_sample_grads, structured_factors
from kgif.influence.settings import TracInSettings
from kgif.influence.topk import KMostInfluentialResults
from kgif.influence.tracin import TracIn
from kgif.interop.pykeen import from_pykeen, to_pykeen
from kgif.interop.tiepin import from_seed
from kgif.jobs.explain_run import FilterOptions, PathOptions, RunOptions, explain_all
from kgif.jobs.html_report import write_run_report
from kgif.model.checkpoint import Checkpoint, load_checkpoint, load_checkpoints, save_checkpoint
from kgif.model.conve import ConvEConfig, init_conve, score_all, score_hrt
from kgif.model.loss import bce_1n, get_objective, pointwise_bce, score, sparse_bce_with_logits
from kgif.training.loop import TrainingConfig, TrainingResult, train

__all__ = [
    "PARAMETER_GROUPS",
    "Adjacency",
    "Checkpoint",
    "ConvEConfig",
    "Explanation",
    "FilterOptions",
    "KMostInfluentialResults",
    "KnowledgeGraph",
    "PathOptions",
    "Query",
    "RunOptions",
    "ShardedTracIn",
    "TailIndex",
    "TracIn",
    "TracInSettings",
    "TrainingConfig",
    "TrainingResult",
    "bce_1n",
    "candidate_edges",
    "candidate_edges_batch",
    "enumerate_paths",
    "evaluate",
    "evaluate_all_sides",
    "explain",
    "explain_all",
    "format_predictions",
    "from_dataframe",
    "from_pykeen",
    "from_seed",
    "get_objective",
    "init_conve",
    "k_hop_nodes",
    "load_checkpoint",
    "load_checkpoints",
    "load_dataset",
    "make_query",
    "per_sample_grads",
    "plot_explanation",
    "pointwise_bce",
    "predict",
    "predict_batch",
    "read_kgx_dataset",
    "rank_paths",
    "read_predictions",
    "read_queries",
    "relation_summary",
    "save_checkpoint",
    "score",
    "score_all",
    "score_hrt",
    "sparse_bce_with_logits",
    "split",
    "structured_factors",
    "to_dataframe",
    "to_pykeen",
    "train",
    "with_reciprocals",
    "write_csv",
    "write_figures",
    "write_json",
    "write_network",
    "write_predictions",
    "write_run_report",
    "write_split",
]

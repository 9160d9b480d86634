"""kgif: TracIn training-data influence for knowledge-graph embeddings (ConvE).

A flat public API over focused modules::

    from kgif import load_dataset, ConvEConfig, TracIn, load_checkpoints, explain
"""

from kgif.batch import FilterOptions, PathOptions, RunOptions, explain_all
from kgif.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_checkpoints,
    save_checkpoint,
)
from kgif.data import KnowledgeGraph, load_dataset, with_reciprocals
from kgif.distributed import ShardedTracIn
from kgif.evaluate import TailIndex, evaluate, evaluate_all_sides
from kgif.export import write_network
from kgif.filters import Adjacency, candidate_edges, candidate_edges_batch, k_hop_nodes
from kgif.grads import PARAMETER_GROUPS, per_sample_grads, structured_factors
from kgif.interop import from_pykeen, from_seed, to_pykeen
from kgif.loss import bce_1n, get_objective, pointwise_bce, score, sparse_bce_with_logits
from kgif.model import ConvEConfig, init_conve, score_all, score_hrt
from kgif.paths import enumerate_paths, rank_paths
from kgif.plot import plot_explanation, write_figures
from kgif.prediction import Query, make_query, predict, predict_batch, read_queries
from kgif.report import (
    Explanation,
    explain,
    format_predictions,
    read_predictions,
    relation_summary,
    to_dataframe,
    write_csv,
    write_json,
    write_predictions,
)
from kgif.runreport import write_run_report
from kgif.tracin import KMostInfluentialResults, TracIn
from kgif.train import TrainingConfig, TrainingResult, train

__version__ = "0.1.0"

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
    "rank_paths",
    "read_predictions",
    "read_queries",
    "relation_summary",
    "save_checkpoint",
    "score",
    "score_all",
    "score_hrt",
    "sparse_bce_with_logits",
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
]

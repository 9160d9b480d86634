"""``python -m kgif explain``: TracIn proponents and opponents of test triples, with names."""

from __future__ import annotations

import argparse
import logging
import statistics

import torch

from kgif.cli._common import (
    add_subparser,
    check_device,
    check_output_dir,
    int_range,
    load_graph_for,
    non_negative_int,
    positive_int,
)
from kgif.data.graph import KnowledgeGraph
from kgif.data.triple_lists import read_triple_list
from kgif.explanation.mechanisms import (
    DEFAULT_AGGREGATE,
    explain_mechanisms,
    format_mechanisms,
    mechanism_explanation,
    write_mechanisms_csv,
    write_mechanisms_json,
)
from kgif.explanation.network import NETWORK_FORMATS
from kgif.explanation.paths import DEFAULT_MAX_PATHS, PATH_AGGREGATES, format_paths
from kgif.explanation.tables import format_explanation
from kgif.influence.distributed import Context, ShardedTracIn, init_from_env
from kgif.influence.engines import ENGINES
from kgif.influence.tracin import NORMALIZATIONS, TracIn
from kgif.jobs.explain_run import (
    Chunk,
    FilterOptions,
    PathOptions,
    RunOptions,
    explain_all,
    explain_chunks,
)
from kgif.jobs.segments import SEGMENT_EDGES
from kgif.model.checkpoint import list_checkpoints, load_checkpoints
from kgif.model.loss import OBJECTIVES

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``explain`` sub-command."""
    parser = add_subparser(
        subparsers, "explain", help="explain predictions by TracIn influence of training edges",
        description="Top proponents and opponents (TracInCP, Pruthi et al. 2020) of test "
                    "triples among the training edges, over a folder of checkpoints.")
    parser.add_argument("--checkpoints", required=True, nargs="+",
                        help="a folder of checkpoints (e.g. runs/umls/checkpoints) or files")
    parser.add_argument("--figures", action="store_true",
                        help="with --output-dir: also write <stem>.png and <stem>.svg per test "
                             "triple (needs pip install 'kgif[plot]')")
    parser.add_argument("--export", action="append", default=[],
                        choices=sorted(NETWORK_FORMATS),
                        help="with --output-dir: also write the explanation network per test "
                             "triple, cytoscape (.cyjs, Cytoscape.js JSON) or graphml; repeatable")
    parser.add_argument("--allow-mixed-runs", action="store_true",
                        help="sum checkpoints of different training runs, repeated epochs or "
                             "duplicate files anyway (refused by default)")
    parser.add_argument("--dataset", help="dataset name or folder (default: from the checkpoint)")
    which = parser.add_argument_group("test triples (labels or ids; combine freely)")
    which.add_argument("--test-triple", nargs=3, action="append", default=[],
                       metavar=("HEAD", "RELATION", "TAIL"),
                       help="one test triple by labels or ids; repeatable")
    which.add_argument("--test-file",
                       help="one head<TAB>relation<TAB>tail line per triple (labels, ids, names "
                            "or CURIEs); # starts a comment")
    which.add_argument("--test-relation",
                       help="take the test-split triples of this relation (e.g. treats)")
    which.add_argument("--predictions", default=None, metavar="FILE",
                       help="the .json/.csv that `kgif predict --output` wrote: explain its "
                            "predicted triples (with --limit N: the top N of each query)")
    which.add_argument("--limit", type=positive_int, default=None,
                       help="at most this many triples from --test-relation, or the top N "
                            "predictions of each query of --predictions")
    parser.add_argument("--top-k", type=positive_int, default=10,
                        help="proponents and opponents each")
    parser.add_argument("--train-objective", default="score", choices=sorted(OBJECTIVES),
                        help="function of a training edge whose gradient TracIn takes "
                             "(kgif.model.loss; docs/tracin.md): score is the triple's logit "
                             "s_t, pointwise_bce softplus(-s_t), bce_1n the BCE of s against "
                             "the one-hot of t over all entities")
    parser.add_argument("--test-objective", default="score", choices=sorted(OBJECTIVES),
                        help="function of a test triple whose gradient TracIn takes (same "
                             "names as --train-objective)")
    parser.add_argument("--parameters", nargs="+", default=None,
                        help="parameter subset: names or groups (embeddings, conv, fc)")
    parser.add_argument("--normalize", choices=sorted(k for k in NORMALIZATIONS if k),
                        default=None,
                        help="normalise the scores (default: none, plain TracInCP): cosine "
                             "divides each checkpoint's gradient inner product by the two "
                             "gradient norms; relatif divides the score by the square root of "
                             "the training edge's self-influence (RelatIF, Barshan et al. 2020)")
    parser.add_argument("--method", choices=sorted(ENGINES), default="structured",
                        help="gradient engine (kgif.influence.engines): structured forms the "
                             "products from low-rank gradient factors, generic materialises "
                             "vmap(grad) per-edge gradients (any --parameters)")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="training edges per batch")
    parser.add_argument("--compile", action="store_true", help="torch.compile the kernel")
    parser.add_argument("--no-self-influence", action="store_true",
                        help="skip the self-influence of each proponent and opponent")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")
    parser.add_argument("--output-dir", default=None,
                        help="batch run: one JSON and CSV per test triple, summary.json/.csv, "
                             "and explanations.json/.csv when complete; rerun to resume")
    parser.add_argument("--chunk-size", type=positive_int, default=64,
                        help="test triples per pass over the training edges (unit of resume)")
    parser.add_argument("--segment-edges", type=non_negative_int, default=SEGMENT_EDGES,
                        metavar="N",
                        help="with --output-dir and no candidate filter: save each chunk's "
                             "pass every N training edges (rounded down to a multiple of "
                             "--batch-size) so that a killed run resumes inside the chunk; "
                             "the results are bit-identical; 0: off (default %(default)s)")
    parser.add_argument("--quiet", action="store_true",
                        help="do not print the explanations (needs --output-dir, where they "
                             "are written)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    filters = parser.add_argument_group(
        "candidate filters (kgif.influence.candidates; default: all edges)")
    filters.add_argument("--filter-hops", type=non_negative_int, default=None, metavar="K",
                         help="score only edges inside the head's and tail's K-hop "
                              "intersection")
    filters.add_argument("--min-degree", type=non_negative_int, default=None,
                         help="with --filter-hops: drop edges touching a node of lower degree")
    filters.add_argument("--max-path-length", type=positive_int, default=None, metavar="L",
                         help="keep only edges on head-tail walks of at most L edges "
                              "(alone: --filter-hops L)")
    paths = parser.add_argument_group("head-tail paths ranked by TracIn (kgif.explanation.paths)")
    paths.add_argument("--paths", type=positive_int, nargs="?", const=10, default=None, metavar="N",
                       help="report the N best paths per test triple (default N: 10)")
    paths.add_argument("--path-lengths", type=int_range(1, 3), nargs=2, default=None,
                       metavar=("MIN", "MAX"),
                       help="with --paths: path lengths in edges, within 1..3 (default: 2 3)")
    paths.add_argument("--max-paths", type=positive_int, default=None,
                       help="with --paths: enumeration cap per test triple (default: "
                            f"{DEFAULT_MAX_PATHS})")
    paths.add_argument("--paths-by", choices=("sum", "mean"), default=None,
                       help="with --paths: rank paths by the sum (default) or the mean of their "
                            "edges' scores")
    mech = parser.add_argument_group("mechanism view (kgif.explanation.mechanisms)")
    mech.add_argument("--mechanisms", action="store_true",
                      help="also show the mechanism view: direct relations set apart, head-tail "
                           "paths (2-3 edges) ranked by an aggregate of their edges' TracIn "
                           "scores, with metapaths; with --output-dir writes mechanisms.json "
                           "and mechanisms.csv (and <stem>.mechanisms.png/.svg with --figures)")
    mech.add_argument("--direct-relations", nargs="+", default=None, metavar="RELATION",
                      help="relations set apart as direct evidence (default: the test relation "
                           "and every relation joining the same kinds, e.g. TREATS_CtD and "
                           "PALLIATES_CpD)")
    mech.add_argument("--path-aggregate", choices=sorted(PATH_AGGREGATES),
                      default=DEFAULT_AGGREGATE,
                      help="path score from its edges' scores (default: %(default)s, chosen on "
                           "the DrugMechDB benchmark, docs/hetionet.md)")
    mech.add_argument("--mechanism-paths", type=positive_int, default=10, metavar="N",
                      help="paths reported per test triple in the mechanism view")
    parser.set_defaults(func=run)


def _test_triples(args: argparse.Namespace, kg: KnowledgeGraph) -> torch.Tensor:
    rows = [tuple(row) for row in args.test_triple]
    if args.test_file:
        rows += read_triple_list(args.test_file, "explain --test-file")
    triples = [kg.resolve_triples(rows)] if rows else []
    if args.test_relation:
        r = kg.resolve_relation(args.test_relation)
        chosen = kg.testing[kg.testing[:, 1] == r][: args.limit]
        if not len(chosen):
            raise ValueError(f"explain: no test-split triples with relation {args.test_relation!r}")
        triples.append(chosen)
    triples += _prediction_triples(args, kg)
    if not triples:
        raise ValueError("explain: give --test-triple, --test-file, --test-relation or "
                         "--predictions")
    return torch.cat(triples)


def _prediction_triples(args: argparse.Namespace, kg: KnowledgeGraph) -> list[torch.Tensor]:
    """``--predictions FILE --limit N``: the top N predicted triples of each query, if given."""
    if not args.predictions:
        return []
    from kgif.explanation.tables import read_predictions

    return [read_predictions(args.predictions, kg, args.limit)]


def _options(args: argparse.Namespace, checkpoints) -> RunOptions:
    hops = args.filter_hops
    if hops is None and args.max_path_length is not None:
        hops = args.max_path_length
    filters = None if hops is None else FilterOptions(hops, args.min_degree, args.max_path_length)
    paths = None
    if args.paths is not None:
        low, high = args.path_lengths or (2, 3)
        paths = PathOptions(args.paths, low, high, args.max_paths or DEFAULT_MAX_PATHS,
                            args.paths_by or "sum")
    metadata = {"checkpoints": [str(p) for p in args.checkpoints],
                "epochs": [c.epoch for c in checkpoints], "top_k": args.top_k}
    return RunOptions(args.top_k, args.chunk_size, not args.no_self_influence, filters, paths,
                      metadata, figures=args.figures, export=tuple(args.export))


def _printer(kg: KnowledgeGraph, train: torch.Tensor, quiet: bool):
    def show(chunk: Chunk) -> None:
        for j, ex in enumerate(chunk.explanations):
            if quiet:
                print(f"[{chunk.indices[j]}] done ({chunk.candidates[j]} candidate edges)")
                continue
            print()
            print(format_explanation(ex, kg))
            ranked = chunk.paths[j]
            if ranked is not None:
                print(format_paths(ranked, kg, train))

    return show


def summarize_rates(rates: list[float]) -> str:
    """One line on the TracInCP weights (Pruthi et al. 2020, eq. 3: one eta per checkpoint).

    Args:
        rates: the checkpoints' learning rates, at least one.

    Returns:
        ``"20 learning rates: min 1.1e-05, median 0.0001, max 0.001, sum 0.004"`` (count,
        min / median / max and sum, 4 significant digits), or ``"learning rate 0.001"``.
    """
    if len(rates) == 1:
        return f"learning rate {rates[0]:.4g}"
    return (f"{len(rates)} learning rates: min {min(rates):.4g}, median "
            f"{statistics.median(rates):.4g}, max {max(rates):.4g}, sum {sum(rates):.4g}")


def _check_path_flags(args: argparse.Namespace) -> None:
    """``--path-lengths``, ``--max-paths`` and ``--paths-by`` need ``--paths``; MIN <= MAX."""
    given = [flag for flag, value in (("--path-lengths", args.path_lengths),
                                      ("--max-paths", args.max_paths),
                                      ("--paths-by", args.paths_by)) if value is not None]
    if given and args.paths is None:
        raise ValueError(f"explain: {', '.join(given)} configure(s) head-tail paths, which only "
                         "--paths turns on; add --paths [N] or drop the flag")
    if args.path_lengths is not None and args.path_lengths[0] > args.path_lengths[1]:
        low, high = args.path_lengths
        raise ValueError(f"explain: --path-lengths {low} {high}: MIN must be <= MAX")


def _check_args(args: argparse.Namespace) -> None:
    """Refuse flag combinations that would lose or misread results."""
    if args.quiet and not args.output_dir:
        raise ValueError("explain: --quiet needs --output-dir: without it the explanations are "
                         "only printed, so --quiet would throw them away")
    if (args.figures or args.export) and not args.output_dir:
        raise ValueError("explain: --figures and --export write files per test triple; they "
                         "need --output-dir")
    if args.min_degree is not None and args.filter_hops is None \
            and args.max_path_length is None:
        raise ValueError("explain: --min-degree needs --filter-hops (or --max-path-length)")
    _check_path_flags(args)
    check_output_dir("explain", "--output-dir", args.output_dir,
                     {"--checkpoints": args.checkpoints[0] if len(args.checkpoints) == 1
                      else None})
    if args.limit is not None and not (args.test_relation or args.predictions):
        raise ValueError("explain: --limit applies to --test-relation or --predictions; "
                         "give one of them")
    check_device(args.device)


def run(args: argparse.Namespace) -> int:
    """Run ``explain``; prints one block per test triple (rank 0), returns 0."""
    _check_args(args)
    context, device = init_from_env(args.device)
    try:
        return _run(args, context, device)
    finally:
        if context.distributed:
            import torch.distributed as dist

            dist.destroy_process_group()


def _run(args: argparse.Namespace, context: Context, device: str | None) -> int:
    if args.mechanisms and context.distributed:
        raise ValueError("explain: --mechanisms runs in one process; start it without torchrun")
    sources = args.checkpoints[0] if len(args.checkpoints) == 1 else args.checkpoints
    files = list_checkpoints(sources)
    checkpoints = load_checkpoints(files, allow_mixed_runs=args.allow_mixed_runs)
    kg = load_graph_for(checkpoints[-1], args.dataset, "explain", str(files[-1]))
    test = _test_triples(args, kg)
    tracin = TracIn(checkpoints, kg.training, train_objective=args.train_objective,
                    test_objective=args.test_objective, parameters=args.parameters,
                    method=args.method, batch_size=args.batch_size, compile=args.compile,
                    device=device, show_progress=not args.no_progress and context.is_main,
                    allow_mixed_runs=args.allow_mixed_runs, normalize=args.normalize)
    options = _options(args, checkpoints)
    engine = ShardedTracIn(tracin, context) if context.distributed else tracin
    say = print if context.is_main else (lambda *a, **k: None)
    rates = summarize_rates([c.learning_rate for c in checkpoints])
    say(f"TracInCP over {len(checkpoints)} checkpoints (epochs {checkpoints[0].epoch}.."
        f"{checkpoints[-1].epoch}; {rates}), {len(kg.training)} training edges, "
        f"{len(test)} test triples; objectives train={args.train_objective} "
        f"test={args.test_objective}, normalize={args.normalize or 'none'}; "
        f"{context.world_size} process(es)")
    show = _printer(kg, tracin.training_edges(), args.quiet)
    if args.output_dir:
        rows = explain_all(engine, kg, test, args.output_dir, options, context=context,
                           on_chunk=show, checkpoint_files=files,
                           segment_edges=args.segment_edges)
        say(f"\nwrote {len(rows)} explanations, summary.json and summary.csv to "
            f"{args.output_dir}")
    else:
        n_chunks = -(-len(test) // options.chunk_size)
        for chunk in explain_chunks(engine, test, options, list(range(n_chunks)), context):
            if context.is_main:
                show(chunk)
    if args.mechanisms:
        _mechanisms(args, tracin, kg, test, options.metadata)
    return 0


def _mechanisms(args: argparse.Namespace, tracin: TracIn, kg: KnowledgeGraph,
                test: torch.Tensor, metadata: dict) -> None:
    """``--mechanisms``: one more pass over the training edges (all scores are needed)."""
    views = explain_mechanisms(tracin, test, kg, direct=args.direct_relations,
                               aggregate=args.path_aggregate, k=args.top_k,
                               top_paths=args.mechanism_paths,
                               max_paths=args.max_paths or DEFAULT_MAX_PATHS,
                               chunk_size=args.chunk_size)
    train = tracin.training_edges()
    if not args.quiet:
        for view in views:
            print()
            print(format_mechanisms(view, kg, train))
    if not args.output_dir:
        return
    from pathlib import Path

    from kgif.jobs.explain_run import triple_stem

    out = Path(args.output_dir)
    write_mechanisms_json(out / "mechanisms.json", views, kg, train,
                          {**metadata, "path_aggregate": args.path_aggregate})
    write_mechanisms_csv(out / "mechanisms.csv", views, kg, train)
    if args.figures:
        from kgif.explanation.plot import write_figures

        for i, view in enumerate(views):
            write_figures(mechanism_explanation(view), kg,
                          out / f"{triple_stem(i, view.triple, kg)}.mechanisms", view.paths,
                          k=args.top_k, n_paths=min(5, len(view.paths)), train_triples=train,
                          title=f"mechanism view: {len(view.proponents)} "
                          "mechanism proponents (direct relations set apart), best paths by "
                          f"{view.aggregate}")
    print(f"wrote mechanisms.json and mechanisms.csv to {out}")

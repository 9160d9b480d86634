"""``python -m kgif convert``: PyKEEN or seed-project ConvE files -> kgif checkpoints.

    python -m kgif convert --from pykeen --input checkpoints/ --output kgif_ckpts/ \\
        --training-triples run/training_triples --learning-rate 0.001
    python -m kgif convert --from seed --input checkpoint_epoch_10.pt --output epoch10.pt \\
        --dataset data/robokop

A folder of checkpoint files (``*.pt``/``*.pth``) converts each file into ``--output``
(a folder) as ``<stem>.pt``; a single file or a PyKEEN pipeline directory (holding
``trained_model.pkl``) converts into the file ``--output``.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

from kgif.cli._common import add_subparser, check_output_dir, check_output_file, positive_float
from kgif.model.checkpoint import save_checkpoint

_INPUT_SUFFIXES = (".pt", ".pth", ".pkl")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` sub-command."""
    parser = add_subparser(
        subparsers,
        "convert", help="convert PyKEEN or seed-project ConvE checkpoints to kgif checkpoints",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source_format", choices=("pykeen", "seed"),
                        required=True, help="layout of the input files")
    parser.add_argument("--input", required=True, type=Path,
                        help="checkpoint file, folder of checkpoint files, or PyKEEN pipeline "
                             "directory")
    parser.add_argument("--output", required=True, type=Path,
                        help="output .pt/.safetensors file (or folder for a folder input)")
    parser.add_argument("--learning-rate", type=positive_float, default=None,
                        help="TracIn learning rate when the files hold no optimizer state "
                             "(default: the files', else 1.0 with a warning)")
    maps = parser.add_mutually_exclusive_group()
    maps.add_argument("--dataset", default=None,
                      help="dataset name or folder (kgif.data.datasets.load_dataset) giving "
                           "the id maps")
    maps.add_argument("--training-triples", type=Path, default=None,
                      help="PyKEEN training_triples/ folder giving the id maps")
    parser.add_argument("--model-config", default=None,
                        help='JSON dict of ConvEConfig fields, e.g. \'{"embedding_height": 4}\'')
    parser.add_argument("--run-id", default=None,
                        help="run id stored in every converted checkpoint (default: one fresh "
                             "uuid4 per invocation: the files converted together count as one "
                             "training run for TracIn)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow full unpickling (trained_model.pkl, PyKEEN training-loop "
                             "checkpoints); only for files you wrote yourself")
    parser.set_defaults(func=_run)


def _id_maps(args: argparse.Namespace) -> tuple[dict | None, dict | None]:
    if args.dataset is not None:
        from kgif.data.datasets import load_dataset

        graph = load_dataset(args.dataset)
        return graph.entity_to_id, graph.relation_to_id
    if args.training_triples is not None:
        from kgif.data.pykeen_folder import read_pykeen_triples

        entity_to_id, relation_to_id, _ = read_pykeen_triples(args.training_triples)
        return entity_to_id, relation_to_id
    return None, None


def _config(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"convert: --model-config is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"convert: --model-config must be a JSON object, got {text!r}")
    return config


def _jobs(source: Path, output: Path) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one for a file or pipeline directory, one per file of a folder."""
    if not source.is_dir() or (source / "trained_model.pkl").is_file():
        return [(source, output)]
    files = sorted(p for p in source.iterdir()
                   if p.suffix in _INPUT_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"convert: no {'/'.join(_INPUT_SUFFIXES)} files in {source}")
    return [(p, output / f"{p.stem}.pt") for p in files]


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse an output that is an input (a file, or a folder whose files would be replaced)."""
    inputs = {"--input": args.input, "--training-triples": args.training_triples,
              "--dataset": args.dataset}
    if args.input.is_dir() and not (args.input / "trained_model.pkl").is_file():
        check_output_dir("convert", "--output", args.output, inputs)
    else:
        check_output_file("convert", "--output", args.output, inputs,
                          suffixes=(".pt", ".safetensors"))


def _run(args: argparse.Namespace) -> int:
    from kgif.interop.pykeen import from_pykeen
    from kgif.interop.tiepin import from_seed

    convert = {"pykeen": from_pykeen, "seed": from_seed}[args.source_format]
    _check_outputs(args)
    entity_to_id, relation_to_id = _id_maps(args)
    config = _config(args.model_config)
    run_id = args.run_id or uuid.uuid4().hex
    for source, target in _jobs(args.input, args.output):
        ckpt = convert(source, entity_to_id=entity_to_id, relation_to_id=relation_to_id,
                       learning_rate=args.learning_rate, config=config,
                       trust_pickle=args.trust_pickle)
        ckpt.run_id = run_id
        save_checkpoint(ckpt, target)
        cfg = ckpt.config
        print(f"{source} -> {target}: epoch {ckpt.epoch}, lr {ckpt.learning_rate:g}, "
              f"d={cfg.embedding_dim} ({cfg.embedding_height}x{cfg.embedding_width}, "
              f"{cfg.stacking}), {cfg.output_channels} channels, "
              f"{ckpt.params['entity_embedding'].shape[0]} entities")
    return 0

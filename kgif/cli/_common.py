"""Helpers shared by the ``python -m kgif`` sub-commands.

- :func:`add_subparser`: every sub-command parser, with ``allow_abbrev=False`` (argparse's
  prefix matching would otherwise read ``--output out.json`` as ``--output-dir out.json``);
- :func:`finish_subparser`: what every sub-command gets once registered: no prefix matching,
  defaults shown in ``--help`` and the ``--config FILE`` flag;
- :func:`expand_config`: a ``--config`` file's settings turned into flags, each checked by the
  flag's own argparse type and choices, command-line flags winning;
- :func:`positive_int` / :func:`non_negative_int`: argparse types that refuse bad counts with a
  message naming the flag (argparse prefixes ``argument --limit:``);
- :func:`number_type` and the types built from it (:data:`positive_int`,
  :data:`non_negative_int`, :data:`positive_float`, :data:`probability`, ...): argparse types
  that refuse bad numbers with a message naming the flag (argparse prefixes
  ``argument --limit:``);
- :func:`load_graph_for`: the dataset a checkpoint was trained on, with its id maps and sizes
  checked;
- :func:`check_device`: a clear error for ``--device cuda`` without a GPU;
- :func:`setup_logging`: log lines through :func:`tqdm.tqdm.write` (progress bars stay whole),
  on rank 0 only under ``torchrun``.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from kgif._device import resolve_device
from kgif.model.checkpoint import check_compatible

__all__ = ["LOG_FORMAT", "DefaultsHelpFormatter", "RawDescriptionDefaultsHelpFormatter",
           "TqdmHandler", "add_subparser", "any_int", "check_device", "check_output_dir",
           "check_output_file", "decay_factor", "dropout_rate", "expand_config", "finish_subparser",
           "finite_float", "int_range", "is_rank0", "load_graph_for", "non_negative_int",
           "number_type", "positive_float", "positive_int", "probability", "rank_bound",
           "read_config_file", "setup_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_subparser(subparsers: argparse._SubParsersAction, name: str,
                  **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` with prefix matching of flags turned off."""
    return subparsers.add_parser(name, **{**kwargs, "allow_abbrev": False})


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each flag's default, except a switch's ``False``, an unset ``None``, an
    empty list, and where the help text already speaks of its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.default is False or action.default in ([], {}) \
                or "default" in text:
            return text
        return super()._get_help_string(action)


class RawDescriptionDefaultsHelpFormatter(DefaultsHelpFormatter,
                                          argparse.RawDescriptionHelpFormatter):
    """:class:`DefaultsHelpFormatter` that keeps the description's line breaks."""


#: Help of the ``--config`` flag every sub-command has.
CONFIG_HELP = ("YAML or TOML file of settings: keys are the flag names in dest form "
               "(embedding_dim for --embedding-dim), values are checked as the flag's; flags "
               "given on the command line win")


def finish_subparser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a registered sub-command parser what every one has: no prefix matching of flags,
    defaults shown in ``--help`` (a raw description stays raw) and ``--config FILE``."""
    parser.allow_abbrev = False
    raw = (isinstance(parser.formatter_class, type)
           and issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter))
    parser.formatter_class = RawDescriptionDefaultsHelpFormatter if raw else DefaultsHelpFormatter
    parser.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP)
    return parser


_Number = TypeVar("_Number", int, float)  # what a numeric flag's parse returns
_Device = TypeVar("_Device", str, None)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def number_type(parse: Callable[[str], _Number], low: float | None = None,
                high: float | None = None, *, low_open: bool = False, high_open: bool = False,
                expected: str = "") -> Callable[[str], _Number]:
    """An argparse type: ``parse(text)`` (integer or finite float) within ``[low, high]``.

    Every numeric flag of every command is one of these (:data:`positive_int`, ...), so a bad
    value is refused the same way everywhere, before any work: argparse prints
    ``argument --batch-size: expected an integer >= 1, got -5`` and exits with status 2.

    Args:
        parse: :func:`_integer` or :func:`_real` (refuses NaN and infinities).
        low, high: bounds (None: unbounded); ``low_open``/``high_open`` exclude them.
        expected: the description in messages (default: built from the bounds).
    """
    kind = "an integer" if parse is _integer else "a number"
    parts = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
             f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
    expected = expected or " ".join([kind, " and ".join(p for p in parts if p)]).strip()

    def parse_value(text: str) -> _Number:
        value = parse(text)
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text.strip()}")
        return value

    parse_value.__name__ = expected  # argparse names the type in some messages
    return parse_value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in ``low..high``."""
    return number_type(_integer, low, high)


#: argparse types of the numeric flags (``docs/refusals.md``).
positive_int = number_type(_integer, 1)
non_negative_int = number_type(_integer, 0)
any_int = number_type(_integer)
positive_float = number_type(_real, 0, low_open=True)
finite_float = number_type(_real)
probability = number_type(_real, 0, 1)
dropout_rate = number_type(_real, 0, 1, high_open=True)  # [0, 1)
decay_factor = number_type(_real, 0, 1, low_open=True)  # (0, 1]
rank_bound = number_type(_real, 1)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _check_parent(command: str, flag: str, path: Path) -> None:
    """The nearest existing ancestor of ``path`` is a writable folder."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{command}: {flag} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{command}: {flag} {path}: folder {parent} is not writable")


def check_output_file(command: str, flag: str, path: str | os.PathLike | None,
                      inputs: dict[str, str | os.PathLike | None] | None = None, *,
                      suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output file before any expensive step (``docs/refusals.md``).

    Refused: a folder, a path under a file, an unwritable folder, a suffix outside
    ``suffixes`` (when given), and a path that is one of ``inputs`` (``{flag: path}``), named
    with both flags.

    Raises:
        ValueError: one line naming ``command``, ``flag``, the path and the rule.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{command}: {flag} {path} is a folder; expected a file path")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{command}: {flag} {path} must end in {' or '.join(suffixes)}")
    for name, source in (inputs or {}).items():
        if source is not None and _same_path(path, Path(source)):
            raise ValueError(f"{command}: {flag} {path} is the input {name} {source}; writing "
                             "it would overwrite the input, choose another output path")
    _check_parent(command, flag, path)


def check_output_dir(command: str, flag: str, path: str | os.PathLike | None,
                     inputs: dict[str, str | os.PathLike | None] | None = None) -> None:
    """Refuse an output folder that is a file, under a file, unwritable, or an input folder.

    Raises:
        ValueError: one line naming ``command``, ``flag``, the path and the rule.
    """
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{command}: {flag} {path} is a file; expected a folder")
    for name, source in (inputs or {}).items():
        if source is not None and _same_path(path, Path(source)):
            raise ValueError(f"{command}: {flag} {path} is the input {name} {source}; writing "
                             "into it would overwrite the inputs, choose another folder")
    _check_parent(command, flag, path / "x")


def check_device(device: _Device, flag: str = "--device") -> _Device:
    """Refuse a CUDA device when there is none (instead of a raw traceback later).

    A thin CLI wrapper of :func:`kgif._device.resolve_device`; ``None`` passes through.

    Raises:
        ValueError: ``device`` names CUDA but there is none, or it is not a torch device.
    """
    if device is None:
        return None
    resolve_device(device, flag)
    return device


def load_graph_for(ckpt, dataset: str | None, command: str, source: str):
    """The dataset ``ckpt`` was trained on, checked against the checkpoint.

    Args:
        ckpt: a :class:`~kgif.model.checkpoint.Checkpoint`.
        dataset: a dataset name or folder, or None for the checkpoint's
            ``config.extra["dataset"]``.
        command: the sub-command, for messages.
        source: the checkpoint's path, for messages.

    Returns:
        The :class:`~kgif.data.graph.KnowledgeGraph`.

    Raises:
        ValueError: no dataset is known, or checkpoint and dataset do not fit
            (:func:`kgif.model.checkpoint.check_compatible`: id maps and table sizes).
    """
    from kgif.data.datasets import load_dataset

    name = dataset or ckpt.config.extra.get("dataset")
    if not name:
        raise ValueError(f"{command}: {source} stores no dataset name in config.extra; "
                         "pass --dataset")
    kg = load_dataset(name)
    check_compatible(ckpt, kg)
    return kg


def is_rank0() -> bool:
    """True unless ``torchrun`` set ``RANK`` to another process than 0."""
    rank = os.environ.get("RANK", "0").strip() or "0"
    return rank == "0"


class TqdmHandler(logging.Handler):
    """Writes each record with :func:`tqdm.tqdm.write`, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(verbose: bool = False) -> logging.Handler:
    """Route the root logger through a :class:`TqdmHandler` (replacing an earlier one; other
    handlers, e.g. a test harness's, stay).

    Rank 0 logs at INFO (DEBUG with ``verbose``); other ``torchrun`` ranks only at ERROR, so
    an INFO line appears once, not once per rank.

    Returns:
        The installed handler.
    """
    handler = TqdmHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TqdmHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if is_rank0():
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
    else:
        root.setLevel(logging.ERROR)
    return handler


# ---------------------------------------------------------------- --config FILE


def _read_toml(path: Path) -> object:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError(f"--config {path}: reading TOML on Python 3.10 needs tomli "
                             "(pip install 'kgif[config]')") from None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"--config {path}: not valid TOML: {error}") from None


def _read_yaml(path: Path) -> object:
    try:
        import yaml
    except ModuleNotFoundError:
        raise ValueError(f"--config {path}: reading YAML needs PyYAML "
                         "(pip install 'kgif[config]')") from None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise ValueError(f"--config {path}: not valid YAML: {detail}") from None


#: ``--config`` file suffix -> its reader (TOML: tomllib / tomli; YAML: PyYAML safe_load).
CONFIG_READERS = {".toml": _read_toml, ".yaml": _read_yaml, ".yml": _read_yaml}


def read_config_file(path: str | os.PathLike) -> dict:
    """The settings of a ``--config`` file: a mapping from flag dest names to values.

    Args:
        path: a ``.toml`` (tomllib, or tomli on Python 3.10) or ``.yaml``/``.yml`` file
            (PyYAML's ``safe_load``; an empty file is no settings).

    Returns:
        The top-level mapping, keys as strings.

    Raises:
        ValueError: unknown suffix, missing file, unparsable text, a missing reader library,
            or a top level that is no mapping; each names the file.
    """
    path = Path(path)
    reader = CONFIG_READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"--config {path}: expected a {', '.join(CONFIG_READERS)} file")
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    settings = reader(path)
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValueError(f"--config {path}: expected a mapping of flag names to values at the "
                         f"top level, got {type(settings).__name__}")
    return {str(key): value for key, value in settings.items()}


def _subcommand(parser: argparse.ArgumentParser, argv: list[str]
                ) -> tuple[argparse.ArgumentParser | None, int]:
    """The sub-command parser named in ``argv`` and its index (top-level flags take no value)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for i, token in enumerate(argv):
        if not token.startswith("-"):
            return (actions[0].choices.get(token), i) if actions else (None, i)
    return None, len(argv)


def _config_path(argv: list[str]) -> str | None:
    """The value of the last ``--config`` in a sub-command's ``argv`` (None: not given)."""
    path = None
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif token.startswith("--config="):
            path = token.partition("=")[2]
    return path


def _given_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Dests of the flags present in ``argv`` (prefix matching is off, so names are exact)."""
    flags = parser._option_string_actions
    return {flags[t.partition("=")[0]].dest for t in argv if t.partition("=")[0] in flags}


def _text(value: object) -> str:
    """One config value as the string a shell would pass (a mapping as ``KEY=V,KEY=V``)."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _switch_tokens(action: argparse.Action, value: object, where: str) -> list[str]:
    """A flag that takes no value (``store_true``, ``--x/--no-x``) from a boolean setting."""
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {action.option_strings[0]} is a switch; expected true or "
                         f"false, got {value!r}")
    if isinstance(action, argparse.BooleanOptionalAction):
        return [action.option_strings[0 if value else 1]]
    if value == action.default:
        return []
    return [action.option_strings[0]]


def _occurrence(parser: argparse.ArgumentParser, action: argparse.Action, value: object,
                where: str) -> list[str]:
    """The tokens of one use of ``action`` for ``value``, checked by the flag's type/choices."""
    flag = action.option_strings[0]
    if isinstance(value, bool) and not (value is True and action.nargs == argparse.OPTIONAL):
        raise ValueError(f"{where}: {flag} takes a value, not {str(value).lower()}")
    if value is True:  # nargs="?" flag given alone: its const
        return [flag]
    single = action.nargs in (None, argparse.OPTIONAL)
    if single and isinstance(value, list):
        raise ValueError(f"{where}: {flag} takes one value, got the list {value!r}")
    strings = [_text(value)] if single or not isinstance(value, list) else [_text(v) for v in value]
    count = action.nargs if isinstance(action.nargs, int) else 1 if action.nargs == "+" else 0
    if len(strings) < count or (isinstance(action.nargs, int) and len(strings) != count):
        raise ValueError(f"{where}: {flag} takes {action.nargs} values, got {value!r}")
    try:
        parser._get_values(action, strings)  # argparse's own conversion and choices check
    except argparse.ArgumentError as error:
        raise ValueError(f"{where}: {error}") from None
    if single:
        return [f"{flag}={strings[0]}"]
    return [flag, *strings]


def _tokens(parser: argparse.ArgumentParser, action: argparse.Action, value: object,
            where: str) -> list[str]:
    """All tokens for one setting (an ``append`` flag: one use per list item)."""
    if action.nargs == 0:
        return _switch_tokens(action, value, where)
    if isinstance(action, argparse._AppendAction):
        if not isinstance(value, list):
            raise ValueError(f"{where}: {action.option_strings[0]} is repeatable; expected a "
                             f"list, got {value!r}")
        return [t for item in value for t in _occurrence(parser, action, item, where)]
    return _occurrence(parser, action, value, where)


def _action(parser: argparse.ArgumentParser, key: str, path: str) -> argparse.Action:
    """The flag a config key names, refusing unknown keys, positionals and ``config`` itself."""
    actions = {a.dest: a for a in parser._actions
               if a.option_strings and a.dest not in (argparse.SUPPRESS, "help", "config")}
    if key in actions:
        return actions[key]
    positional = [a.dest for a in parser._actions if not a.option_strings]
    if key in positional:
        raise ValueError(f"--config {path}: key {key!r} is the positional argument "
                         f"{key.upper()} of `{parser.prog}`; give it on the command line")
    close = difflib.get_close_matches(key.replace("-", "_"), actions, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"--config {path}: unknown key {key!r} for `{parser.prog}`{hint}")


def expand_config(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with its sub-command's ``--config FILE`` settings inserted as flags.

    Each key is a flag's dest (``embedding_dim`` for ``--embedding-dim``); its value becomes
    the tokens a shell would pass (a switch: ``true``/``false``; a multi-value or repeatable
    flag: a list; ``relation_repeats``: a mapping), checked by the flag's own argparse type and
    choices. The tokens go right after the sub-command name, before the command line's own
    flags, so a flag given on the command line wins (a repeatable or multi-value flag given
    there replaces the file's value instead of adding to it). A ``None`` (YAML ``~``) keeps
    the default. Flags read from the file count as given: they beat ``train --preset``.

    Args:
        parser: the top-level parser (:func:`kgif.cli.build_parser`).
        argv: the command line without the program name.

    Returns:
        ``argv`` unchanged when no ``--config`` is given, else the expanded list.

    Raises:
        ValueError: an unreadable file (:func:`read_config_file`), an unknown key, a
            positional key, or a value the flag refuses; each names the file and the key.
    """
    sub, index = _subcommand(parser, argv)
    rest = argv[index + 1:]
    path = _config_path(rest) if sub is not None else None
    if sub is None or path is None:
        return argv
    given = _given_dests(sub, rest)
    tokens: list[str] = []
    for key, value in read_config_file(path).items():
        action = _action(sub, key, path)
        if action.dest in given or value is None:
            continue
        tokens += _tokens(sub, action, value, f"--config {path}: key {key!r}")
    return [*argv[: index + 1], *tokens, *rest]

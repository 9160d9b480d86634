"""``--config FILE`` on every sub-command, ``--version``; help, defaults, choices on every flag."""

from __future__ import annotations

import argparse

import pytest

from kgif._version import __version__
from kgif.cli import build_parser, main
from kgif.cli._common import DefaultsHelpFormatter, expand_config, read_config_file
from kgif.cli.train import EXPLICIT, apply_preset


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    return parser.parse_args(expand_config(parser, argv))


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_toml_settings_become_flags_and_the_command_line_wins(tmp_path):
    cfg = _write(tmp_path / "train.toml",
                 'dataset = "nations"\nepochs = 3\nembedding_dim = 8\nreciprocal = false\n'
                 'learning_rate = 0.01\nstacking = "width"\n')
    args = _parse(["train", "--config", cfg, "--epochs", "5"])
    assert (args.dataset, args.epochs, args.embedding_dim) == ("nations", 5, 8)
    assert args.reciprocal is False and args.learning_rate == 0.01 and args.stacking == "width"


def test_yaml_lists_switches_and_repeatable_flags(tmp_path):
    cfg = _write(tmp_path / "explain.yaml",
                 "checkpoints: [a.pt, b.pt]\ntest_triple: [[x, r, y], [u, r, v]]\n"
                 "compile: true\nquiet: false\npath_lengths: [1, 3]\npaths: true\n"
                 "export: [graphml]\nlimit: ~\n")
    args = _parse(["explain", "--config", cfg])
    assert args.checkpoints == ["a.pt", "b.pt"]
    assert args.test_triple == [["x", "r", "y"], ["u", "r", "v"]]
    assert args.compile is True and args.quiet is False and args.limit is None
    assert args.path_lengths == [1, 3] and args.paths == 10 and args.export == ["graphml"]
    # a repeatable or multi-value flag on the command line replaces the file's, not adds to it
    args = _parse(["explain", "--test-triple", "p", "r", "q", "--config", cfg,
                   "--checkpoints", "c.pt"])
    assert args.test_triple == [["p", "r", "q"]] and args.checkpoints == ["c.pt"]


def test_mapping_value_and_config_beats_preset(tmp_path):
    cfg = _write(tmp_path / "t.yml", "preset: hetionet\nrelation_repeats: {TREATS_CtD: 3}\n"
                                     "epochs: 2\n")
    args = apply_preset(_parse(["train", "--config", cfg]))
    assert args.relation_repeats == {"TREATS_CtD": 3} and args.epochs == 2
    assert {"relation_repeats", "epochs"} <= getattr(args, EXPLICIT)
    assert args.dataset == "hetionet"


@pytest.mark.parametrize(("text", "message"), [
    ("epoch: 3\n", "unknown key 'epoch' for `python -m kgif train`; did you mean 'epochs'?"),
    ("epochs: x\n", "key 'epochs': argument --epochs: expected an integer, got 'x'"),
    ("stacking: diagonal\n", "key 'stacking': argument --stacking: invalid choice: 'diagonal'"),
    ("reciprocal: 1\n", "key 'reciprocal': --reciprocal is a switch; expected true or false"),
    ("epochs: [1, 2]\n", "key 'epochs': --epochs takes one value, got the list [1, 2]"),
    ("dataset: true\n", "key 'dataset': --dataset takes a value, not true"),
    ("config: other.yaml\n", "unknown key 'config'"),
    ("- epochs\n", "expected a mapping of flag names to values at the top level, got list"),
])
def test_bad_settings_are_refused_naming_file_and_key(tmp_path, capsys, text, message):
    cfg = _write(tmp_path / "bad.yaml", text)
    assert main(["train", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --config {cfg}: ") and message in err
    assert err.count("\n") == 1


def test_explain_values_checked_like_the_flag(tmp_path, capsys):
    cfg = _write(tmp_path / "e.toml", "top_k = 0\n")
    assert main(["explain", "--config", cfg, "--checkpoints", "x"]) == 2
    assert "key 'top_k': argument --top-k: expected an integer >= 1, got 0" in \
        capsys.readouterr().err
    cfg = _write(tmp_path / "p.toml", "path_lengths = [2]\n")
    assert main(["explain", "--config", cfg, "--checkpoints", "x"]) == 2
    assert "--path-lengths takes 2 values, got [2]" in capsys.readouterr().err


def test_positional_key_missing_file_and_suffix(tmp_path, capsys):
    cfg = _write(tmp_path / "r.toml", 'output_dir = "x"\n')
    assert main(["report", "--config", cfg]) == 2
    assert "key 'output_dir' is the positional argument OUTPUT_DIR" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no such file"):
        read_config_file(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match=r"expected a \.toml, \.yaml, \.yml file"):
        read_config_file(tmp_path / "settings.json")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_config_file(_write(tmp_path / "broken.toml", "epochs = \n"))
    assert read_config_file(_write(tmp_path / "empty.yaml", "")) == {}


def test_every_command_has_config():
    for name, sub in _subparsers().items():
        assert "--config" in sub._option_string_actions, name


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"kgif {__version__}"


def test_every_flag_has_help_and_literals_show_choices():
    subs = _subparsers()
    for name, sub in subs.items():
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    train = subs["train"]._option_string_actions
    assert train["--stacking"].choices == ("height", "width")
    assert train["--lr-schedule"].choices == ("constant", "exponential", "cosine")
    assert train["--validation-side"].choices == ("both", "head", "tail")


def test_help_shows_defaults_and_choices(capsys):
    for argv in (["train", "--help"], ["explain", "--help"], ["predict", "--help"],
                 ["evaluate", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "d = H * W (default: 200)" in out
    assert "--stacking {height,width}" in out
    assert "--train-objective {bce_1n,pointwise_bce,score}" in out
    assert "(same names as --train-objective) (default: score)" in out
    assert "answers per query (default: 20)" in out
    assert "the dataset split to rank (default: testing)" in out
    assert "(default: cpu) (default" not in out  # a help that names its default gets no second


def test_help_that_names_its_default_is_kept_as_written():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--valid", type=float, default=0.1, help="fraction (default 0.1)")
    parser.add_argument("--top", type=int, default=3, help="top ranks")
    parser.add_argument("--name", default=None, help="a name")
    text = " ".join(parser.format_help().split())
    assert "fraction (default 0.1) --top" in text and "top ranks (default: 3)" in text
    assert "a name (default" not in text

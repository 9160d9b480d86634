"""The package's import graph: stage order, no cycle, the CLI on top of the library, and the
import graph printed in docs/architecture.md kept current."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cycle_finder_finds_a_cycle():
    tool = _tool()
    assert tool.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert tool.cycles({"a": {"b"}, "b": set()}) == []


def test_stage_checks_find_violations():
    tool = _tool()
    assert tool.stage("kgif._version") == 0
    assert tool.stage("kgif.data.graph") == 1
    assert tool.stage("kgif.cli.explain") == tool.stage("kgif.bench.common") == 10
    assert tool.stage("kgif") == 11
    assert tool.stage("kgif.helpers") is None  # a new flat module outside the stage folders
    assert tool.stage("kgif.reports.html") is None  # a folder that is no stage
    edges = {"kgif.data.graph": {"kgif.model.conve", "kgif._io"},
             "kgif.explanation.network": {"kgif"},  # `from kgif import __version__`
             "kgif.cli.train": {"kgif.bench.common", "kgif.training.loop"},
             "kgif.helpers": set()}
    assert tool.upward(edges) == [("kgif.data.graph", "kgif.model.conve"),
                                  ("kgif.explanation.network", "kgif")]
    assert tool.unstaged(edges) == ["kgif.helpers"]


def test_no_cycle_even_through_imports_inside_functions():
    tool = _tool()
    edges = {k: v for k, v in tool.graph(everywhere=True).items() if k != "kgif"}
    assert tool.cycles(edges) == []


def test_no_upward_import_and_every_module_in_a_stage():
    tool = _tool()
    edges = tool.graph(everywhere=True)
    assert tool.upward(edges) == []
    assert tool.unstaged(edges) == []


def test_tool_exits_zero_and_reports_no_violation():
    done = subprocess.run([sys.executable, str(ROOT / "tools/import_graph.py"), "--all"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-3:] == ["upward imports: none", "unstaged modules: none",
                                             "cycles: none"]


def test_architecture_doc_shows_the_current_import_graph():
    """docs/architecture.md's block under "Import graph" is `python tools/import_graph.py`'s
    output; regenerate it with ``python tools/import_graph.py --update-doc``."""
    doc = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Import graph", 1)[1]
    block = re.search(r"```text\n(.*?)\n```", section, re.S)
    assert block is not None, "docs/architecture.md: no ```text block under '## Import graph'"
    assert block.group(1) == _tool().report(everywhere=False)[0]


def test_library_modules_do_not_import_the_cli():
    tool = _tool()
    edges = tool.graph(everywhere=True)
    offenders = {name: sorted(m for m in deps if m.startswith("kgif.cli"))
                 for name, deps in edges.items()
                 if not name.startswith(("kgif.cli", "kgif.__main__"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_repository_folders_do_not_shadow_package_modules():
    """From the folder above a clone named ``kgif``, the clone is a namespace portion of
    ``kgif``: a top-level folder such as the CLI's default output folder ``runs/`` would be
    found as ``kgif.runs`` before the installed module of that name."""
    package = {p.stem for p in (ROOT / "kgif").iterdir()
               if p.suffix == ".py" or (p / "__init__.py").is_file()}
    tracked = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    default_outputs = {"runs"}  # kgif/cli/train.py: runs/<dataset>
    assert package & (tracked | default_outputs) == set()


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines itself (def, class, assignment), imports excluded; top-level
    ``if`` / ``try`` blocks included."""
    names, nodes = set(), list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.If | ast.Try):
            nodes += node.body + node.orelse + getattr(node, "finalbody", [])
            nodes += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def _declared_all(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                 for t in node.targets)):
            return set(ast.literal_eval(node.value))
    return set()


def test_every_public_name_has_one_home_and_imports_from_kgif():
    """Each name of ``kgif.__all__`` is defined by exactly one module, listed in no other
    module's ``__all__`` (no re-export between modules), and ``kgif.<name>`` is that object."""
    tool = _tool()
    trees = {tool.module_name(p): ast.parse(p.read_text(encoding="utf-8"))
             for p in sorted((ROOT / "kgif").rglob("*.py")) if p.name != "__init__.py"
             or p.parent != ROOT / "kgif"}
    kgif = importlib.import_module("kgif")
    assert len(kgif.__all__) == len(set(kgif.__all__)) > 40
    homes = {name: [m for m, tree in trees.items() if name in _top_level_names(tree)]
             for name in kgif.__all__}
    assert {name: found for name, found in homes.items() if len(found) != 1} == {}
    listed = {name: sorted(m for m, tree in trees.items() if name in _declared_all(tree)
                           and m != homes[name][0]) for name in kgif.__all__}
    assert {name: found for name, found in listed.items() if found} == {}
    for name in kgif.__all__:
        assert getattr(kgif, name) is getattr(importlib.import_module(homes[name][0]), name)

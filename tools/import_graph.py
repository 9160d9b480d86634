"""Print kgif's internal import graph, and check its stage order and cycles.

Usage: ``python tools/import_graph.py [--all] [--update-doc]`` from the repository root. The
graph (module -> kgif modules it imports) counts imports at module level; ``--all`` adds those
inside functions (and under ``if TYPE_CHECKING:``). Three checks follow; the exit status is 1
if any fails:

* **upward imports**: an import from a module to a module of a *later* stage of
  :data:`STAGES` (docs/architecture.md). Always checked over every import, inside functions too:
  a lazy import still makes a lower stage depend on a higher one.
* **unstaged modules**: a module that is in no stage folder and is not a private top-level
  module of :data:`STAGES`.
* **cycles**: strongly connected components of the printed graph, ``kgif/__init__.py`` (the flat
  re-export layer, the last stage) left out.

``--update-doc`` rewrites the graph block of docs/architecture.md with the module-level report
(tests/test_architecture.py checks that they agree).

``from kgif.x import y`` counts as an import of module ``kgif.x.y`` when that is a module, else of
``kgif.x``; ``from kgif import __version__`` counts as an import of the package ``kgif``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Stages in import order: a module may import its own stage and earlier ones only. Names are
#: the first component under ``kgif.``; ``""`` is the package ``kgif`` itself (its __init__).
STAGES: tuple[tuple[str, ...], ...] = (
    ("_io", "_device", "_version", "_environment", "_progress", "_lock"),
    ("data",),
    ("model",),
    ("evaluation",),
    ("training",),
    ("influence",),
    ("explanation",),
    ("jobs",),
    ("studies",),
    ("interop",),
    ("cli", "bench", "__main__"),
    ("",),
)

#: Top-level single-file modules (``kgif/<name>.py``) allowed outside a stage folder.
TOP_LEVEL_MODULES = ("_io", "_device", "_version", "_environment", "_progress", "_lock",
                     "__main__")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    """The package a relative import in ``path`` starts from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a kgif module, or None outside kgif."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, path: Path, modules: set[str]) -> list[str | None]:
    if isinstance(node, ast.Import):
        return [_resolve(a.name, modules) for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = _package(path).split(".")
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else _resolve(base, modules)
            for a in node.names]


def imports(path: Path, modules: set[str], everywhere: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if everywhere else tree.body
    found = {t for node in nodes for t in _targets(node, path, modules) if t}
    return found - {module_name(path)}


def graph(everywhere: bool) -> dict[str, set[str]]:
    files = sorted((ROOT / "kgif").rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports(p, modules, everywhere) for p in files}


def stage(module: str) -> int | None:
    """Rank of ``module``'s stage in :data:`STAGES`, or None when it is in none."""
    if module == "kgif":
        return len(STAGES) - 1
    parts = module.split(".")
    if parts[0] != "kgif":
        return None
    first = parts[1]
    top_level_file = len(parts) == 2 and not (ROOT / "kgif" / first / "__init__.py").is_file()
    if top_level_file and first not in TOP_LEVEL_MODULES:
        return None
    return next((rank for rank, names in enumerate(STAGES) if first in names), None)


def unstaged(edges: dict[str, set[str]]) -> list[str]:
    return sorted(m for m in edges if stage(m) is None)


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the imported module's stage comes later."""
    return sorted((m, dep) for m, deps in edges.items() for dep in deps
                  if None not in (stage(m), stage(dep)) and stage(dep) > stage(m))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _short(module: str) -> str:
    return module.removeprefix("kgif.") if module != "kgif" else "kgif"


def report(everywhere: bool) -> tuple[str, bool]:
    """(the printed report, whether every check passed)."""
    edges = graph(everywhere)
    lines = [f"{_short(m)}: {', '.join(sorted(_short(d) for d in edges[m])) or '-'}"
             for m in sorted(edges)]
    up = upward(graph(everywhere=True))
    lost = unstaged(edges)
    found = cycles({k: v for k, v in edges.items() if k != "kgif"})
    lines.append("upward imports: " + ("; ".join(f"{_short(a)} -> {_short(b)}" for a, b in up)
                                       or "none"))
    lines.append("unstaged modules: " + (", ".join(_short(m) for m in lost) or "none"))
    lines.append("cycles: " + ("; ".join(" <-> ".join(c) for c in found) or "none"))
    return "\n".join(lines), not (up or lost or found)


DOC = ROOT / "docs" / "architecture.md"
DOC_BLOCK = re.compile(r"(## Import graph\n.*?```text\n)(.*?)(\n```)", re.S)


def update_doc(text: str) -> None:
    """Replace the ```text block under "## Import graph" of docs/architecture.md by ``text``."""
    doc = DOC.read_text(encoding="utf-8")
    new, count = DOC_BLOCK.subn(lambda m: m.group(1) + text + m.group(3), doc, count=1)
    if count != 1:
        raise SystemExit(f"import_graph.py: no ```text block under '## Import graph' in {DOC}")
    DOC.write_text(new, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--all", action="store_true", help="count function-level imports too")
    parser.add_argument("--update-doc", action="store_true",
                        help="rewrite docs/architecture.md's block (module-level graph)")
    args = parser.parse_args()
    text, ok = report(args.all)
    print(text)
    if args.update_doc:
        update_doc(report(everywhere=False)[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

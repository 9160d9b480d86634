"""Print kgif's internal import graph (module -> kgif modules it imports) and any cycle.

Usage: ``python tools/import_graph.py [--all]`` from the repository root. Only imports at module
level count by default (``--all`` adds those inside functions, which run later and cannot
form an import-time cycle). ``kgif.x.y`` imports are attributed to the module or package
``kgif.x.y``; ``kgif/__init__.py`` (the flat re-export layer) is listed but left out of cycles.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], everywhere: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if everywhere else tree.body
    found = set()
    for node in nodes:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != "kgif":
                found.add(name)
    return found - {module_name(path)}


def graph(everywhere: bool) -> dict[str, set[str]]:
    files = sorted((ROOT / "kgif").rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports(p, modules, everywhere) for p in files}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--all", action="store_true", help="count function-level imports too")
    args = parser.parse_args()
    edges = graph(args.all)
    for name in sorted(edges):
        short = sorted(m.removeprefix("kgif.") for m in edges[name])
        print(f"{name.removeprefix('kgif.') or 'kgif'}: {', '.join(short) or '-'}")
    found = cycles({k: v for k, v in edges.items() if k != "kgif"})
    print("cycles:", "; ".join(" <-> ".join(c) for c in found) if found else "none")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""The package's shape, for the refactoring issue's proof: modules and lines per package, and
module-level import cycles among distillctl's own modules (imports inside functions are lazy
and do not form cycles at import time; both are counted).

    python scripts/module_facts.py
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "distillctl"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], lazy: bool) -> set[str]:
    """The distillctl modules `path` imports: at module level, or (lazy) anywhere in it."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
    return {m for m in found if m in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(f) for f in files}
    per_package: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in files:
        rel = f.relative_to(ROOT)
        package = rel.parts[0] if len(rel.parts) > 1 else "(root)"
        per_package[package][0] += 1
        per_package[package][1] += len(f.read_text().splitlines())
    print(f"{'package':<16} {'modules':>7} {'lines':>7}")
    for package, (n, lines) in sorted(per_package.items()):
        print(f"{package:<16} {n:>7} {lines:>7}")
    total = [sum(v[i] for v in per_package.values()) for i in (0, 1)]
    print(f"{'total':<16} {total[0]:>7} {total[1]:>7}")
    for lazy in (False, True):
        graph = {module_name(f): imports(f, modules, lazy) - {module_name(f)} for f in files}
        found = cycles(graph)
        where = "anywhere (imports inside functions too)" if lazy else "at module level"
        print(f"import cycles {where}: {len(found)}")
        for c in found:
            print("  " + " <-> ".join(c))


if __name__ == "__main__":
    main()

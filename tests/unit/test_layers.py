"""The layers of zerodown, read from its imports with `ast` (nothing is imported or run).

What is checked:
  - routers import no runtime: they ask the Host they run on (zerodown/hosts/),
  - analysis imports nothing of the data plane (zerodown.proxy),
  - configuration and planners import nothing that executes hooks (zerodown.hooks),
  - the data plane imports nothing of the control plane,
  - no import cycle among zerodown's modules.

Which imports count: the layer rules follow every import, at module level or
inside a function, transitively through module-level imports (a lazy import is
still a dependency: it would only move the violation, not remove it). The
cycle check counts module-level imports, `if TYPE_CHECKING:` blocks included
(a typing-only cycle still ties two files together), and leaves out imports
inside functions: those run after every module has loaded, so they cannot make
import order matter. One cycle is allowed, typing-only, for the compiled proxy
(see ALLOWED_CYCLE_EDGES).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "zerodown"

# upstream.py names exchange.Exchange under TYPE_CHECKING: mypyc compiles the two
# together and calls its methods natively (see upstream.py's docstring).
ALLOWED_CYCLE_EDGES = {("zerodown.proxy.upstream", "zerodown.proxy.exchange")}

CONTROL_PLANE = ("zerodown.analysis", "zerodown.api", "zerodown.cli", "zerodown.commands",
                 "zerodown.config", "zerodown.config_checks", "zerodown.config_model",
                 "zerodown.config_reference", "zerodown.config_words",
                 "zerodown.config_words_router", "zerodown.config_words_strategy",
                 "zerodown.controller",
                 "zerodown.daemon", "zerodown.demo", "zerodown.demo_cli", "zerodown.demo_fleet",
                 "zerodown.engine", "zerodown.example", "zerodown.fleet_lock",
                 "zerodown.fakes", "zerodown.gather", "zerodown.hooks", "zerodown.hooks_config",
                 "zerodown.hooks_model", "zerodown.hosts", "zerodown.loadgen", "zerodown.plan",
                 "zerodown.practice_fleet",
                 "zerodown.render", "zerodown.routers", "zerodown.runtimes", "zerodown.schema",
                 "zerodown.schema_sections", "zerodown.strategies", "zerodown.views",
                 "zerodown.yaml_input")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str) -> str | None:
    """The zerodown module a dotted name is, or is in (a name imported from it)."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def imports(module: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(module-level, of those the typing-only, inside functions) zerodown imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, set[str]] = {"runtime": set(), "typing": set(), "lazy": set()}

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
        resolved = {_resolve(n) for n in names if n.startswith("zerodown")}
        return {m for m in resolved if m is not None and m != module}

    def visit(node: ast.AST, kind: str) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found[kind].update(targets(node))
            return
        for child in ast.iter_child_nodes(node):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, "lazy")
            elif isinstance(node, ast.If) and _is_type_checking(node) and child in node.body:
                visit(child, "lazy" if kind == "lazy" else "typing")
            else:
                visit(child, kind)

    visit(ast.parse(path.read_text(encoding="utf-8")), "runtime")
    top = found["runtime"] | found["typing"]
    return frozenset(top), frozenset(found["typing"] - found["runtime"]), \
        frozenset(found["lazy"] - top)


def reach(module: str) -> dict[str, list[str]]:
    """Every module `module` depends on, each with the chain of imports that leads there."""
    top, _, lazy = imports(module)
    paths = {m: [module, m] for m in top | lazy}
    todo = list(paths)
    while todo:
        current = todo.pop()
        for nxt in imports(current)[0]:
            if nxt not in paths and nxt != module:
                paths[nxt] = paths[current] + [nxt]
                todo.append(nxt)
    return paths


def violations(sources: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    def under(module: str, prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)
    return sorted(" -> ".join(chain) for module in MODULES if under(module, sources)
                  for target, chain in reach(module).items() if under(target, forbidden))


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), allowed edges left out."""
    graph = {m: sorted(t for t in imports(m)[0] if (m, t) not in ALLOWED_CYCLE_EDGES)
             for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:  # recursion depth is bounded by the module count
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


@pytest.mark.parametrize("sources, forbidden, why", [
    (("zerodown.routers",), ("zerodown.runtimes",),
     "a router asks the Host it runs on (zerodown.hosts), not the local runtime"),
    (("zerodown.analysis",), ("zerodown.proxy",),
     "the latency histogram is zerodown.latency; analysis must not load the data plane"),
    (("zerodown.config", "zerodown.hooks_config", "zerodown.hooks_model", "zerodown.plan",
      "zerodown.strategies"), ("zerodown.hooks",),
     "configuration and planners use the hooks vocabulary (zerodown.hooks_model), not the runner"),
    (("zerodown.proxy",), CONTROL_PLANE,
     "the data plane runs alone (zerodown proxy): nothing of the control plane"),
], ids=["routers-no-runtime", "analysis-no-proxy", "config-no-hook-runner", "proxy-no-control"])
def test_layer(sources, forbidden, why):
    assert violations(sources, forbidden) == [], why


def test_no_import_cycles():
    assert cycles() == [], "module-level imports (typing-only ones included) form a cycle"


def test_the_allowed_cycle_stays_typing_only():
    for source, target in ALLOWED_CYCLE_EDGES:
        top, typing_only, _ = imports(source)
        assert target not in top or target in typing_only, \
            f"{source} imports {target} at run time: only a TYPE_CHECKING import is allowed"


def test_the_reader_sees_what_it_checks():
    """The rules are only as good as the import reader: it finds each kind of import."""
    top, typing_only, lazy = imports("zerodown.proxy.upstream")
    assert "zerodown.proxy.metrics" in top and "zerodown.proxy.exchange" in typing_only
    assert "zerodown.proxy.server" in imports("zerodown.proxy.accel")[2]  # inside a function
    assert "zerodown.engine.lifecycle" in imports("zerodown.engine.store_deployments")[0]  # from pkg import m
    assert "zerodown.engine.store" in reach("zerodown.engine.runner")

"""No two syncd modules import each other, however many modules the loop goes through.

A cycle makes a module's names depend on the order the interpreter happens to meet the
modules in, and it ties two parts that should be read, tested and replaced on their own.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

Graph = dict[str, dict[str, int]]


def syncd_modules() -> dict[str, Path]:
    """Each module of the syncd package by its dotted name; a package by its __init__.py."""
    modules = {}
    for path in sorted((ROOT / "syncd").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(
    node: ast.Import | ast.ImportFrom, name: str, modules: dict[str, Path]
) -> list[str]:
    """The syncd modules an import statement in module `name` loads, absolute: `from m
    import a` loads m.a when that is a module (`from syncd.spend import html`), else m."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
        base = ".".join([*parts, node.module] if node.module else parts)
        names = [f"{base}.{alias.name}" for alias in node.names]
        names = [submodule for submodule in names if submodule in modules] or [base]
    found = []
    for target in names:
        while target and target not in modules:  # `import a.b.c`, c a class: a.b
            target = target.rpartition(".")[0]
        if target and target != name:
            found.append(target)
    return found


def import_graph() -> Graph:
    """importer -> {imported: line of the first such import}, over syncd's own modules."""
    modules = syncd_modules()
    graph: Graph = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in imported_modules(node, name, modules):
                    for loaded in [*packages_run(target, name, modules), target]:
                        edges.setdefault(loaded, node.lineno)
    return graph


def packages_run(target: str, importer: str, modules: dict[str, Path]) -> list[str]:
    """The packages whose __init__ runs before `target` loads (`a.b` for `a.b.c`), but for
    the importer's own, which are loaded before it: `import a.b.c` in `x.y` runs `a.b`'s
    __init__, and an __init__ importing back into `x.y`'s chain is a loop like any other."""
    parts = target.split(".")
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
    packages = (".".join(parts[:i]) for i in range(2, len(parts)))
    return [package for package in packages if package in modules and package not in own]


def shortest_paths(graph: Graph, start: str) -> dict[str, list[str]]:
    """Every module `start` reaches, each with the shortest chain of imports to it."""
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(graph.get(module, {})):
            if target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    return paths


def cycles(graph: Graph) -> list[list[str]]:
    """One shortest loop per group of modules that all reach each other, as the modules it
    passes through, the first repeated at the end."""
    reach = {module: shortest_paths(graph, module) for module in graph}
    seen: set[str] = set()
    found = []
    for module in sorted(graph):
        group = {other for other in reach[module] if module in reach.get(other, {})}
        if module in seen or len(group) < 2:
            continue
        seen |= group
        last = min((m for m in group if module in graph[m]), key=lambda m: len(reach[module][m]))
        found.append([*reach[module][last], module])
    return found


def describe(cycle: list[str], graph: Graph) -> str:
    steps = [f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_syncd_has_no_import_cycle() -> None:
    """Every import statement counts, at module level or inside a function, and under
    `if TYPE_CHECKING`: an import deferred into a function still makes the two modules need
    each other, it only moves the failure from import time to the first call, out of sight
    of whoever reads the module's head. What is not counted is the package a module sits
    in, which Python imports first: it would make every package that re-exports its
    modules a cycle. A module that imports names from its own package's __init__ is
    counted, as any other import is."""
    graph = import_graph()
    found = [describe(cycle, graph) for cycle in cycles(graph)]
    assert found == [], "import cycles:\n" + "\n".join(found)


def test_the_check_sees_imports_in_functions_and_names_the_loop() -> None:
    """The check itself: a loop is reported with its lines, and an import inside a function
    (the state's key migration reaching the key SQL) is an edge of the graph."""
    graph: Graph = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 40}, "d": {"a": 1}}
    assert [describe(cycle, graph) for cycle in cycles(graph)] == [
        "a (line 3) -> b (line 5) -> c (line 40) -> a"
    ]
    assert "syncd.pushdown.member_keys" in import_graph()["syncd.state.schema"]


def private_uses(modules: dict[str, Path]) -> list[str]:
    """Where a syncd module reaches into another's private names: `from syncd.m import _x`,
    or `m._x` on a syncd module it imported as `m`."""
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("syncd"):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        imported.add(alias.asname or alias.name)
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{name} line {node.lineno}: {node.module}.{alias.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{name} line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    """A leading underscore says a name may change with its module alone: a module that
    uses another's makes that promise false (syncd status once built its triggers with the
    daemon's private one, and so loaded the daemon, apscheduler's scheduler and the
    pipeline to show a table)."""
    found = private_uses(syncd_modules())
    assert found == [], "private names used across modules:\n" + "\n".join(found)

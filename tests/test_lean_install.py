"""A production install carries no emulator: a pass never imports one, nor the demo, and
everything the emulators import beyond the standard library comes with syncd's core
dependencies anyway, so moving them to the `sandbox` extra costs a production pod nothing
and keeps `pip install -e .` + `syncd demo` working."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import TOKEN, Workspace
from packaging.requirements import Requirement
from support.networks import NETWORKS, Network

import syncd
from syncd.destinations.google.sandbox.ads import ROOTS_ENV

#: Modules a production pass must never load: the emulators and the demo.
EMULATOR_OR_DEMO = re.compile(
    r"syncd\.(sandbox|demo)(\..+)?|syncd\.destinations(\.\w+)*\.sandbox(\..+)?"
)
#: Runs the CLI in this interpreter, then prints what it imported that it must not have:
#: the process's `sys.modules` is the proof, whatever the CLI's own exit code.
WRAPPER = f"""
import json, re, sys
from syncd.launch import main
sys.argv = ["syncd", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    code = stop.code
pattern = re.compile({EMULATOR_OR_DEMO.pattern!r})
loaded = sorted(name for name in sys.modules if pattern.fullmatch(name))
print(json.dumps({{"exit": code, "loaded": loaded}}))
"""
PACKAGE = Path(syncd.__file__).parent
EMULATOR_FOLDERS = [PACKAGE / "sandbox", *PACKAGE.glob("destinations/**/sandbox")]


@pytest.fixture
def networks() -> Iterator[list[Network]]:
    """Every registered network's emulator, running in this process."""
    started: list[Network] = []
    try:
        for network in NETWORKS.values():
            started.append(network())
        yield started
    finally:
        for network in started:
            network.stop()


def run_cli(*args: str) -> dict:
    env = {"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", ROOTS_ENV: os.environ[ROOTS_ENV]}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_production_pass_imports_no_emulator_and_no_demo(
    workspace: Workspace, networks: list[Network]
) -> None:
    workspace.write_people(
        [(f"buyer{i}@example.com", None, "US", None, None, None) for i in range(3)]
    )
    data = workspace.config_data()
    data["destinations"] = {
        network.kind: {**network.settings, "access_token": "${TEST_TOKEN}"} for network in networks
    }
    data["audiences"] = [
        {"segment": "people", "destination": network.kind, "audience_id": network.audience_id}
        for network in networks
    ]
    config = workspace.root / "syncd.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))

    planned = run_cli("plan", str(config))
    synced = run_cli("sync", "--once", str(config))

    assert (planned, synced) == ({"exit": 0, "loaded": []}, {"exit": 0, "loaded": []})
    assert all(len(network.emails()) == 3 for network in networks)  # the pass really ran


class _Imports(ast.NodeVisitor):
    """The modules a file imports when it runs: an import tried under `except ImportError`
    is optional, one under `if TYPE_CHECKING:` never runs. `from a import b` counts as
    `a.b`, which names the module that ships `b` whether `b` is a module or a name in `a`."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.update(f"{node.module}.{alias.name}" for alias in node.names)

    def visit_Try(self, node: ast.Try) -> None:
        caught = {
            name.id
            for handler in node.handlers
            for name in ast.walk(handler.type or ast.Name("BaseException"))
            if isinstance(name, ast.Name)
        }
        if not caught & {"ImportError", "ModuleNotFoundError"}:
            self.generic_visit(node)
            return
        for statement in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(statement)

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)


def third_party_imports(folder: Path) -> set[str]:
    """The modules the Python files under `folder` import when they run, bar the standard
    library's and syncd's own."""
    imports = _Imports()
    for path in folder.rglob("*.py"):
        imports.visit(ast.parse(path.read_text()))
    own = {*sys.stdlib_module_names, "syncd", "__future__"}
    return {name for name in imports.names if name.partition(".")[0] not in own}


@functools.cache
def shipped(distribution: str) -> frozenset[str]:
    return frozenset(file.as_posix() for file in metadata.files(distribution) or ())


def distributions_of(module: str) -> set[str]:
    """The distributions that ship `module`: those `packages_distributions` names for its
    top-level package, narrowed, where many share it as a namespace (google), to those
    shipping its deepest package or module (google/longrunning/operations_pb2.py)."""
    parts = module.split(".")
    candidates = metadata.packages_distributions().get(parts[0], [])
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        files = {f"{stem}/__init__.py", f"{stem}.py"}
        shipping = {canonical(name) for name in candidates if files & shipped(name)}
        if shipping:
            return shipping
    return {canonical(name) for name in candidates}


def core_closure() -> set[str]:
    """Every distribution syncd's core `dependencies` bring, recursively (none of syncd's
    extras; the extras a dependency itself asks for are followed)."""
    seen: set[str] = set()
    pending = [Requirement(text) for text in metadata.requires("syncd") or []]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            nested = Requirement(text)
            extras = requirement.extras | {""}
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in extras):
                nested.marker = None
                pending.append(nested)
    return seen


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_what_the_emulators_import_comes_with_the_core_dependencies() -> None:
    imported = set().union(*(third_party_imports(folder) for folder in EMULATOR_FOLDERS))
    assert {"grpc", "cryptography"} <= {name.partition(".")[0] for name in imported}
    closure = core_closure()
    missing = {
        module: sorted(distributions_of(module))
        for module in imported
        if not distributions_of(module) & closure
    }
    assert missing == {}

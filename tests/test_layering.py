"""DESIGN.md section 3's import rules, checked over the package's AST."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"
FORBIDDEN_IN_PURE = {"os", "time", "boto3", "botocore", "sqlite3", "psutil", "loguru", "yaml"}
PURE_MAY_IMPORT = {"models", "results", "keys", "stability", "snapshot", "live_rules", "diskguard",
                   "leftovers", "budget", "conflicts"}
LOGGER_SETUP = {"add", "remove", "configure"}


@dataclass
class Imports:
    external: set[str] = field(default_factory=set)  # top-level names: os, boto3, ...
    internal: set[str] = field(default_factory=set)  # package modules: models, keys; "" = __init__
    logger_setup_calls: list[str] = field(default_factory=list)  # "logger.add" at line N


def _module_or_init(name: str) -> str:
    """`from . import name`: a module of the package, or a name from its __init__ ("")."""
    return name if (PACKAGE / f"{name}.py").exists() else ""


def imports_of(source: str) -> Imports:
    """Every import anywhere in the module (functions included), split by where it points."""
    out = Imports()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                if top == "reconciler":
                    rest = (node.module or "").split(".")[1:2]
                    out.internal.update(rest or [_module_or_init(a.name) for a in node.names])
                else:
                    out.external.add(top)
            elif node.module:  # from .models import X
                out.internal.add(node.module.split(".")[0])
            else:  # from . import logs, __version__
                out.internal.update(_module_or_init(alias.name) for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in LOGGER_SETUP and isinstance(node.func.value, ast.Name)
              and node.func.value.id == "logger"):
            out.logger_setup_calls.append(f"logger.{node.func.attr} at line {node.lineno}")
    return out


def modules() -> dict[str, Imports]:
    found = {p.stem: imports_of(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.glob("*.py"))}
    found[""] = found.pop("__init__")
    return found


MODULES = modules()


def closure(name: str) -> set[str]:
    """`name` and every package module it reaches through package imports."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(MODULES[current].internal)
    return seen


def test_the_package_is_there() -> None:
    for name in ("models", "plan", "stability", "scan", "manifest", "remote", "logs", "keys"):
        assert name in MODULES, name


@pytest.mark.parametrize("pure", ["plan", "stability", "alerts", "snapshot", "live_rules", "diskguard",
                                  "leftovers", "budget", "conflicts"])
def test_pure_modules_reach_only_models_keys_stability(pure: str) -> None:
    reached = closure(pure) - {pure}
    assert reached <= PURE_MAY_IMPORT, f"{pure} reaches {sorted(reached - PURE_MAY_IMPORT)}"


@pytest.mark.parametrize("pure", ["plan", "stability", "alerts", "snapshot", "live_rules", "diskguard",
                                  "leftovers", "budget", "conflicts"])
def test_pure_modules_import_no_io_even_transitively(pure: str) -> None:
    for name in sorted(closure(pure)):
        bad = MODULES[name].external & FORBIDDEN_IN_PURE
        assert not bad, f"{pure} reaches {name}.py, which imports {sorted(bad)}"


@pytest.mark.parametrize(("a", "b"), [("scan", "manifest"), ("scan", "remote"), ("manifest", "scan"),
                                      ("manifest", "remote"), ("remote", "scan"), ("remote", "manifest")])
def test_observers_never_import_one_another(a: str, b: str) -> None:
    assert b not in closure(a), f"{a} reaches {b}"


# The S3 side is remote.py (every call), s3client.py (the client it is handed) and
# s3errors.py, which reads botocore's exception types to sort failures; native.py alone
# sends small PUTs through awscrt. Nothing else may touch these libraries.
@pytest.mark.parametrize(("library", "owners"), [("boto3", ["s3client"]),
                                                 ("botocore", ["remote", "s3client", "s3errors"]),
                                                 ("awscrt", ["native"]),
                                                 ("sqlite3", ["dbfile", "manifest", "migrations", "tables"])])
def test_only_the_owner_imports_its_library(library: str, owners: list[str]) -> None:
    users = sorted(name for name, imp in MODULES.items() if library in imp.external)
    assert users == owners


def test_only_logs_configures_loguru() -> None:
    offenders = {name: imp.logger_setup_calls for name, imp in MODULES.items()
                 if imp.logger_setup_calls and name != "logs"}
    assert offenders == {}
    assert MODULES["logs"].logger_setup_calls, "logs.py is where the sinks are set up"


def test_models_is_stdlib_only() -> None:
    assert MODULES["models"].internal == set()
    assert MODULES["models"].external <= {"__future__", "dataclasses", "enum", "typing"}


def test_results_are_stdlib_records_over_models() -> None:
    assert MODULES["results"].internal == {"models"}
    assert MODULES["results"].external <= {"__future__", "dataclasses", "enum", "typing"}


# ---- the checker itself can see a violation --------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "external", "internal"),
    [
        ("import os\n", {"os"}, set()),
        ("import os.path as p\n", {"os"}, set()),
        ("def f():\n    import sqlite3\n", {"sqlite3"}, set()),
        ("from botocore.config import Config\n", {"botocore"}, set()),
        ("from .scan import restat\n", set(), {"scan"}),
        ("from .remote.sub import x\n", set(), {"remote"}),
        ("from . import logs, __version__\n", set(), {"logs", ""}),
        ("from reconciler.manifest import Manifest\n", set(), {"manifest"}),
        ("from reconciler import keys\n", set(), {"keys"}),
        ("from reconciler import __version__\n", set(), {""}),
        ("try:\n    import psutil\nexcept ImportError:\n    pass\n", {"psutil"}, set()),
    ],
)
def test_checker_finds_imports(source: str, external: set, internal: set) -> None:
    found = imports_of(source)
    assert (found.external, found.internal) == (external, internal)


def test_checker_finds_logger_setup_calls() -> None:
    found = imports_of("from loguru import logger\nlogger.info('x')\n\ndef f():\n    logger.add(print)\n"
                       "    logger.remove()\n    logger.configure(patcher=None)\n")
    assert found.logger_setup_calls == ["logger.add at line 5", "logger.remove at line 6",
                                        "logger.configure at line 7"]


# ---- the local file seam (localfs.py): links, identity, delete and move in one place -----------------
def test_only_the_local_file_seam_talks_to_win32() -> None:
    users = sorted(name for name, imp in MODULES.items() if imp.external & {"ctypes", "msvcrt", "_winapi"})
    assert users == ["win32"]


def test_the_local_file_seam_reaches_only_its_own_parts_and_models() -> None:
    assert closure("localfs") - {"localfs"} <= {"models", "localcopy", "win32"}

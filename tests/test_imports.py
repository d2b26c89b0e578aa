"""Import direction is the architecture: no two of finfer's modules may reach each other through imports.

The modules are read with `ast` (nothing is imported), through the `package-dir` mapping in pyproject.toml,
so a folder's module name is the one it installs as. Every import counts, lazy ones inside functions and
`TYPE_CHECKING` blocks included: a circle hidden in a function is still two modules that know each other.
`from package import submodule` depends on the submodule, and, as Python runs it first, on the package's
`__init__` (unless the importer is inside that package, whose `__init__` is then already running).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules(root: Path) -> dict[str, Path]:
    """Every module of the project by its installed name, from pyproject.toml's package-dir."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    found: dict[str, Path] = {}
    for package in setuptools["packages"]:
        for path in package_folder(root, setuptools["package-dir"], package).glob("*.py"):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def package_folder(root: Path, package_dir: dict[str, str], package: str) -> Path:
    """Where `package` lives: its own mapping, or its nearest mapped parent's folder and the rest of its name."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in package_dir:
            return root.joinpath(package_dir[".".join(parts[:i])], *parts[i:])
    return root.joinpath(*parts)


def _at_import_time(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes that run when the module is imported: not function bodies, not `if TYPE_CHECKING:` blocks."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
            continue
        yield from _at_import_time(child)


def imported(name: str, path: Path, known: set[str], lazy: bool = True) -> set[str]:
    """The project modules that `name` (at `path`) imports: anywhere in its body, or (`lazy=False`) only those
    imported when it is imported."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree) if lazy else _at_import_time(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            out.update(submodules or {base})
    # Importing a module runs its packages' `__init__`s first: those of packages `name` is not inside count too.
    ancestors = {name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)} | {name}
    for module in list(out):
        parts = module.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return (out & known) - ancestors


def circles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    found = modules(root)
    graph = {name: imported(name, path, set(found)) for name, path in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return groups


def test_every_package_folder_is_read():
    found = modules(ROOT)
    assert "finfer.front.dataplane" in found and "finfer.wire.finfer_pb2" in found
    listed = {p.parent for p in found.values()}
    hidden = lambda p: any(part.startswith(".") for part in p.relative_to(ROOT).parts)  # .venv, .perf-analyzer  # noqa: E731
    on_disk = {p.parent for p in ROOT.glob("*/**/__init__.py") if not hidden(p) and "tests" not in p.parts}
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(map(str, on_disk - listed))}"


def test_no_import_circle():
    assert circles(ROOT) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "app" = "src", "app.low" = "lower" }\n'
        'packages = ["app", "app.low", "app.low.deep"]\n'
    )
    for folder in ("src", "lower", "lower/deep"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "src" / "top.py").write_text("from app.low import base\n")
    (tmp_path / "lower" / "base.py").write_text("import json\n")
    (tmp_path / "lower" / "deep" / "leaf.py").write_text("from .. import base\n")
    return tmp_path


def test_a_tree_without_circles_passes(tree: Path):
    assert circles(tree) == []


def test_a_lazy_import_that_closes_a_circle_fails(tree: Path):
    (tree / "lower" / "base.py").write_text("def late():\n    from app import top\n")
    assert circles(tree) == [["app.low.base", "app.top"]]


def test_a_package_init_that_imports_its_modules_closes_a_circle(tree: Path):
    # top imports app.low.base: Python runs app/low/__init__.py first, which imports top.
    (tree / "lower" / "__init__.py").write_text("from app import top\n")
    assert circles(tree) == [["app.low", "app.top"]]


def test_a_relative_import_that_closes_a_circle_fails(tree: Path):
    (tree / "lower" / "base.py").write_text("from .deep import leaf\n")
    assert circles(tree) == [["app.low.base", "app.low.deep.leaf"]]

"""One import direction: the package's module-level imports form no cycle, and no function imports the package lazily.

The graph is built statically with `ast` (nothing is imported), from every ``.py`` file under ``deepfakeforensics/``.
Rules that decide its edges, chosen to match what Python really executes at import time:

- ``import a.b.c`` depends on ``a.b.c``; ``from a.b import c`` depends on ``a.b.c`` when ``c`` is a submodule, and on
  the package ``a.b`` (its ``__init__``) when ``c`` is a name defined there (or ``*``).
- Python imports the parent packages (``a``, ``a.b``) first, so those are edges too, except for the importing
  module's own parent packages: they are already in ``sys.modules`` (initialising) when the importer runs, and
  importing a submodule of them never needs their ``__init__`` to have finished. So a package ``__init__`` that
  imports its submodules is not a cycle, while a submodule that takes a *name* from its own package's ``__init__``
  (``from deepfakeforensics.models import create_model`` inside ``models/``) is one, because it is one.
- Imports under ``if TYPE_CHECKING:`` do not run: not edges. Imports in class bodies run at import time: edges.
- Imports inside a function run when it is called: not edges of the graph, but checked by the second rule.
- ``importlib.import_module`` (the CLI's command discovery) is not an import statement and is not seen.

Second rule: no function body imports a ``deepfakeforensics`` module (such imports usually exist only to dodge a
cycle), except where lazy imports keep ``dff --help`` fast: anywhere in ``cli.py``, and the ``run`` and
``add_arguments`` functions of ``commands/*.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "deepfakeforensics"
LAZY_FUNCTIONS = ("run", "add_arguments")  # in commands/*.py
LAZY_ANYWHERE = ("deepfakeforensics/cli.py",)


@dataclass(frozen=True)
class Import:
    """One import of a package module: where it is written and which module it makes Python load."""

    source: str  # importing module, dotted
    file: str  # its path relative to the repository
    line: int
    target: str  # imported package module, dotted
    function: str | None  # outermost enclosing function, None at module level (class bodies included)


def discover(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file for every module of `package` under `root` (a package is its ``__init__``)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST, function: str | None = None) -> Iterator[tuple[ast.Import | ast.ImportFrom, str | None]]:
    """Every runtime import statement under `node`, with its outermost enclosing function (None at module level)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, function
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:  # the body runs only for type checkers
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), function)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(child, function or getattr(child, "name", "<lambda>"))
        else:
            yield from _statements(child, function)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _from_base(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of ``from <base> import ...``, resolving relative imports."""
    if node.level == 0:
        return node.module or ""
    parts = source.split(".") if is_package else source.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _targets(source: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The package modules one import statement loads, by the rules in the module docstring."""
    if isinstance(node, ast.Import):
        wanted = {alias.name for alias in node.names}
        named: set[str] = set()
    else:
        base = _from_base(source, is_package, node)
        subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
        wanted = subs | {base}
        named = {base} if len(subs) < len(node.names) else set()  # names taken from base's __init__
    own = set(_ancestors(source)) | {source}
    loaded = set(named)
    for name in wanted:
        loaded |= {m for m in [*_ancestors(name), name] if m not in own}
    return {m for m in loaded if m in modules and m != source}


def collect_imports(root: Path, package: str) -> list[Import]:
    """Every import of a `package` module by a `package` module, module-level and inside functions."""
    modules = discover(root, package)
    found = []
    for source, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, function in _statements(tree):
            for target in sorted(_targets(source, is_package, node, modules)):
                found.append(Import(source, path.relative_to(root).as_posix(), node.lineno, target, function))
    return found


def _graph(imports: list[Import]) -> dict[str, dict[str, Import]]:
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.function is None:
            graph.setdefault(imp.source, {}).setdefault(imp.target, imp)
    return graph


def find_cycles(imports: list[Import]) -> list[list[Import]]:
    """One cycle (as the chain of imports that closes it) per strongly connected group of modules."""
    graph = _graph(imports)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups if len(group) > 1]


def _cycle_in(group: set[str], graph: dict[str, dict[str, Import]]) -> list[Import]:
    """The shortest cycle through the group's first module (breadth-first search inside the group)."""
    start = min(group)
    parents: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for target, imp in sorted(graph.get(node, {}).items()):
                if target not in group or target in parents:
                    continue
                parents[target] = imp
                if target == start:
                    chain = [imp]
                    while chain[0].source != start:
                        chain.insert(0, parents[chain[0].source])
                    return chain
                nxt_frontier.append(target)
        frontier = nxt_frontier
    raise AssertionError(f"no cycle found in strongly connected group {sorted(group)}")


def lazy_imports(imports: list[Import]) -> list[Import]:
    """Imports of package modules inside functions, outside the allow-list of the module docstring."""
    return [
        imp
        for imp in imports
        if imp.function is not None
        and imp.file not in LAZY_ANYWHERE
        and not (imp.file.startswith(f"{PACKAGE}/commands/") and imp.function in LAZY_FUNCTIONS)
    ]


def _describe(imp: Import) -> str:
    where = f" in {imp.function}()" if imp.function else ""
    return f"{imp.file}:{imp.line}{where}: {imp.source} imports {imp.target}"


# ---------------------------------------------------------------- the rules, on this package


@pytest.fixture(scope="module")
def package_imports() -> list[Import]:
    return collect_imports(REPO, PACKAGE)


def test_package_imports_form_no_cycle(package_imports):
    cycles = find_cycles(package_imports)
    report = "\n".join(
        " -> ".join([c[0].source, *(i.target for i in c)]) + "\n    " + "\n    ".join(map(_describe, c)) for c in cycles
    )
    assert not cycles, f"import cycles among package modules:\n{report}"


def test_no_function_imports_the_package_outside_the_cli(package_imports):
    lazy = lazy_imports(package_imports)
    assert not lazy, "imports of package modules inside functions:\n" + "\n".join(map(_describe, lazy))


def test_model_machinery_knows_no_concrete_model(package_imports):
    """The registry, the factory and the weight loader never reach an architecture module (timm's direction)."""
    graph = {src: set(targets) for src, targets in _graph(package_imports).items()}
    concrete = {
        f"{PACKAGE}.models.{m}"
        for m in ("mesonet", "efficientnet", "temporal", "_keras", "timm_models", "branches", "peft_tuning", "heads")
    }
    for machinery in ("_base", "_registry", "_weights", "_factory"):
        seen, todo = set(), [f"{PACKAGE}.models.{machinery}"]
        while todo:
            for nxt in graph.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert not seen & concrete, f"models/{machinery}.py reaches {sorted(seen & concrete)}"


# ---------------------------------------------------------------- the analysis itself, on a synthetic package


def _write_package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_analysis_finds_real_cycles_and_only_those(tmp_path):
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.sub import thing\n",  # a package importing its submodules: fine
            "pkg/sub/__init__.py": "from .thing import X\nfrom pkg.sub import thing\n",
            "pkg/sub/thing.py": "from pkg.sub import helper\nX = 1\n",  # a submodule of its own package: fine
            "pkg/sub/helper.py": "import os\n",
            "pkg/a.py": "from typing import TYPE_CHECKING\nimport pkg.b\nif TYPE_CHECKING:\n    import pkg.c\n",
            "pkg/b.py": "class K:\n    from pkg import a\n",  # class bodies run at import: a -> b -> a
            "pkg/c.py": "import pkg.sub.thing\n\ndef f():\n    from pkg import a\n",  # TYPE_CHECKING, lazy: no cycle
            "pkg/d.py": "from pkg.sub import X\n",  # a name from pkg/sub/__init__: depends on it
            "pkg/sub/e.py": "from pkg.sub import X\n",  # a name from its own package's __init__: ...
        },
    )
    imports = collect_imports(tmp_path, "pkg")
    edges = {(i.source, i.target) for i in imports if i.function is None}
    assert ("pkg.c", "pkg.sub") in edges and ("pkg.c", "pkg.sub.thing") in edges  # parents are loaded first
    assert ("pkg.sub.thing", "pkg.sub") not in edges and ("pkg.sub.thing", "pkg.sub.helper") in edges
    assert ("pkg.d", "pkg.sub") in edges and ("pkg.sub.e", "pkg.sub") in edges
    assert ("pkg.a", "pkg.c") not in edges
    cycles = [[(i.source, i.target) for i in c] for c in find_cycles(imports)]
    assert cycles == [[("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")]]
    assert [(i.file, i.line, i.function, i.target) for i in lazy_imports(imports)] == [("pkg/c.py", 4, "f", "pkg.a")]


def test_analysis_reports_a_cycle_through_a_package_init(tmp_path):
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/m/__init__.py": "from pkg.m import arch\nfrom pkg.m.reg import make\n",
            "pkg/m/reg.py": "def make():\n    pass\n",
            "pkg/m/arch.py": "from pkg.m import make\n",  # needs the __init__ that is importing it: a real cycle
        },
    )
    cycles = [[(i.source, i.target) for i in c] for c in find_cycles(collect_imports(tmp_path, "pkg"))]
    assert cycles == [[("pkg.m", "pkg.m.arch"), ("pkg.m.arch", "pkg.m")]]

"""The layer's modules import each other without circles, counting imports inside functions
and lazy imports too (a circle hidden behind a function-level or `lazy.module` import is still a
circle), and never import the function packages above them. The JIT handler's import leaves the
migration path out, and SnapStart's priming loads it (cold start, services/jit.py)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "shared"
PACKAGE = "scenario_migration"
FUNCTIONS = {p.name for p in (LAYER.parent / "functions").iterdir() if (p / "app.py").exists()}


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif lazy := lazy_import(node):
            found.add(lazy)
    return found


def lazy_import(node: ast.AST) -> str | None:
    """The module of a `lazy.module("name")` call (scenario_migration/lazy.py)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "module"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "lazy"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return str(node.args[0].value)
    return None


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in (LAYER / PACKAGE).rglob("*.py")}
    return {
        name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()
    }


def test_no_import_circles() -> None:
    edges = graph()
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            assert state.get(target) != 1, " -> ".join([*trail, module, target])
            if target not in state:
                visit(target, [*trail, module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_the_layer_never_imports_a_function_package() -> None:
    for path in (LAYER / PACKAGE).rglob("*.py"):
        roots = {name.split(".")[0] for name in imports_of(path)}
        assert not roots & FUNCTIONS, path


def test_a_lazy_import_counts_as_an_import() -> None:
    jit = graph()["scenario_migration.services.jit"]
    assert {"scenario_migration.domain.planning", "scenario_migration.store.plans"} <= jit


MIGRATION_PATH = (
    "scenario_migration.domain.jit",
    "scenario_migration.domain.extraction",
    "scenario_migration.domain.planning",
    "scenario_migration.domain.graph",
    "scenario_migration.domain.plan",
    "scenario_migration.domain.lifecycle",
    "scenario_migration.domain.marking",
    "scenario_migration.store.plans",
    "scenario_migration.store.deployments",
)
EXECUTED = (
    "import sys, types, jit_apply.app; "
    "print(' '.join(m for m in sys.argv[1:] if type(sys.modules.get(m)) is types.ModuleType))"
)


def executed_after_handler_import(**environment: str) -> set[str]:
    """The MIGRATION_PATH modules whose code ran when a fresh interpreter imported the JIT handler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    env.update(
        PYTHONPATH=os.pathsep.join(str(LAYER.parent / f) for f in ("functions", "shared")), **environment
    )
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [sys.executable, "-c", EXECUTED, *MIGRATION_PATH], env=env, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_the_jit_fast_path_imports_none_of_the_migration_path() -> None:
    assert executed_after_handler_import() == set()


def test_snapstart_priming_loads_the_migration_path() -> None:
    primed = executed_after_handler_import(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    assert primed == set(MIGRATION_PATH)

"""The layer's modules import each other without circles, counting imports inside functions
too (a circle hidden behind a function-level import is still a circle), and never import the
function packages above them."""

import ast
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
    return found


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

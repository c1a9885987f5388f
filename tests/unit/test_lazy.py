"""scenario_migration/lazy.py: a lazy module runs its code once, on first use, whoever uses it."""

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenario_migration import lazy


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package `lazypkg` with modules `a` and `b`, each counting how often its code ran."""
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text("RUNS = []  # the modules whose code ran, in order\n")
    for name in ("a", "b"):
        (root / f"{name}.py").write_text(
            f"import lazypkg\n\nlazypkg.RUNS.append({name!r})\nVALUE = {name!r} * 2\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [m for m in sys.modules if m == "lazypkg" or m.startswith("lazypkg.")]:
        del sys.modules[name]


def runs() -> list[str]:
    return sys.modules["lazypkg"].RUNS


def test_the_code_runs_on_first_attribute_access_and_once(package: str) -> None:
    module = lazy.module(f"{package}.a")
    assert runs() == []
    assert module.VALUE == "aa"
    assert module.VALUE == "aa"
    assert runs() == ["a"]


def test_an_import_statement_gets_the_same_module(package: str) -> None:
    module = lazy.module(f"{package}.a")
    from lazypkg import a  # noqa: PLC0415

    assert a is module
    assert a.VALUE == "aa" and runs() == ["a"]


def test_an_imported_module_is_returned_as_it_is(package: str) -> None:
    from lazypkg import b  # noqa: PLC0415

    assert lazy.module(f"{package}.b") is b
    assert runs() == ["b"]


def test_load_runs_it_now(package: str) -> None:
    module = lazy.module(f"{package}.a")
    lazy.load(module)
    assert runs() == ["a"]
    lazy.load(module)
    assert runs() == ["a"]


def test_first_uses_from_many_threads_run_the_code_once(package: str) -> None:
    module = lazy.module(f"{package}.a")
    start = threading.Barrier(8)
    seen: list[str] = []

    def use() -> None:
        start.wait()
        seen.append(module.VALUE)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["aa"] * 8 and runs() == ["a"]


def test_an_unknown_module_fails_at_once() -> None:
    with pytest.raises(ModuleNotFoundError):
        lazy.module("scenario_migration.no_such_module")

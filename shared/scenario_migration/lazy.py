"""Modules imported on first use, for cold starts: the one lazy-import mechanism of the service.

A function's init imports what its common case needs; what only a rarer path uses can be named
at the top of the module like any import and loaded when that path first touches it. `module()`
is importlib's LazyLoader (the standard library's recipe): the module object exists at once, its
code runs on the first attribute access (thread-safe: LazyLoader locks the load). A module that
is imported already is returned as it is. `load()` runs it now: SnapStart's priming calls it so
that the snapshot holds the module and a restored container pays nothing.

Used by services/jit.py (the JIT fast path needs none of the decision machinery).
"""

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """The module `name`, its code run on first attribute access (or now, if already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    spec.loader.exec_module(lazy)  # LazyLoader: prepares the load, runs nothing yet
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, lazy)  # as an eager import binds it on its package
    return lazy


def load(lazy: ModuleType) -> None:
    """Run a lazy module's code now (any attribute access does; a loaded module is unchanged)."""
    getattr(lazy, "__name__")  # noqa: B009 - the access itself is the point

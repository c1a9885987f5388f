"""What `sam build` packaged (make test builds first) is what Lambda will run: every handler
imports from its function folder plus the layer alone, and the layer carries the configuration."""

import json
import subprocess
import sys

import pytest

from local_run.template import ROOT, load_template

BUILD = ROOT / ".aws-sam" / "build"
TEMPLATE = load_template()
pytestmark = pytest.mark.skipif(not BUILD.is_dir(), reason="no .aws-sam/build: run `make build` first")

PROBE = """
import importlib, json, sys
module, _, attribute = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), attribute)
from scenario_migration.config import load_settings
import sysconfig
allowed = (sys.argv[2], sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
outside = sorted(f for f in files if f and not f.startswith(allowed))
print(json.dumps({"callable": callable(handler), "enabled": load_settings().enabled, "outside": outside}))
"""


@pytest.mark.parametrize("function", sorted(TEMPLATE.functions))
def test_the_built_function_imports_with_only_its_layer(function: str) -> None:
    path = [str(BUILD / "CoreLayer" / "python"), str(BUILD / function)]
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",  # no site-packages: only what was built, as on Lambda
            "-c",
            f"import sys; sys.path[:0] = {path!r}\n{PROBE}",
            TEMPLATE.functions[function],
            str(BUILD),
        ],
        capture_output=True,
        text=True,
        cwd=BUILD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"callable": True, "enabled": True, "outside": []}


def test_the_layer_carries_the_configuration_file() -> None:
    packaged = BUILD / "CoreLayer" / "python" / "scenario_migration" / "default.toml"
    assert packaged.read_text() == (ROOT / "config" / "default.toml").read_text()


def test_the_layer_carries_the_api_document() -> None:
    packaged = BUILD / "CoreLayer" / "python" / "scenario_migration" / "openapi.json"
    assert packaged.read_text() == (ROOT / "docs" / "openapi.json").read_text()


def test_the_layer_carries_the_parsers_extraction_imports_on_first_use() -> None:
    """text2num and libphonenumber are imported only when a field of their type is read: a
    handler's import cannot show that they were packaged, this does."""
    probe = (
        f"import sys; sys.path[:0] = [{str(BUILD / 'CoreLayer' / 'python')!r}]\n"
        "from scenario_migration.domain.extraction import parse_answer\n"
        "from scenario_migration.domain.scenario import FieldSpec\n"
        "print(parse_answer(FieldSpec(name='n', type='integer'), 'seventeen'),"
        " parse_answer(FieldSpec(name='p', type='phone'), '+33 6 12 34 56 78'))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, cwd=BUILD, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["17", "+33612345678"]


def test_the_console_carries_its_page_and_its_vendored_graph_library() -> None:
    """`make build` vendors the console's library before `sam build` packages functions/."""
    static = BUILD / "ConsoleFunction" / "console" / "static"
    source = ROOT / "functions" / "console" / "static"
    for name in ("index.html", "app.js", "dagre.esm.js", "dagre.LICENSE.txt"):
        assert (static / name).read_bytes() == (source / name).read_bytes(), name

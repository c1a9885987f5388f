"""Configuration: the packaged file, per-stack overrides (JSON and per-key variables), and errors
that name the key. Behaviour per key is in tests/integration/test_config_keys.py."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scenario_migration.config import ConfigError, GapFillConfig, MigrationSettings, load_settings
from scenario_migration.domain import extraction

ROOT = Path(__file__).resolve().parents[2]
SEED_KEYS = {
    "enabled",
    "deployment.auto_mark_sessions",
    "deployment.require_approval",
    "gap_fill.extraction_enabled",
    "gap_fill.extraction_confidence_threshold",
    "gap_fill.confirmation_threshold",
    "gap_fill.max_conversation_turns",
    "re_routing.enabled",
    "re_routing.notify_user",
    "re_routing.notification_template",
    "checkpoints.block_teleport_past_checkpoint",
    "retention.version_retention_days",
    "retention.plan_retention_days",
}


def flatten(table: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        out |= flatten(value, f"{path}.") if isinstance(value, dict) else {path: value}
    return out


def test_the_file_holds_every_seed_key_with_the_seed_defaults() -> None:
    table = tomllib.loads((ROOT / "config" / "default.toml").read_text())["scenario_migration"]
    keys = flatten(table)
    assert set(keys) >= SEED_KEYS
    assert (keys["gap_fill.extraction_confidence_threshold"], keys["retention.plan_retention_days"]) == (
        0.85,
        30,
    )
    assert set(keys) == set(flatten(load_settings().model_dump()))  # the file and the model agree


def test_json_overrides_merge_key_by_key_and_per_key_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SCENARIO_MIGRATION_OVERRIDES",
        '{"deployment": {"require_approval": false}, "gap_fill": {"max_conversation_turns": 5}}',
    )
    monkeypatch.setenv("SCENARIO_MIGRATION__GAP_FILL__MAX_CONVERSATION_TURNS", "7")
    settings = load_settings()
    assert settings.deployment.require_approval is False
    assert settings.deployment.auto_mark_sessions is True  # the rest of the table comes from the file
    assert settings.gap_fill.max_conversation_turns == 7
    assert settings.gap_fill.extraction_confidence_threshold == 0.85


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SCENARIO_MIGRATION_OVERRIDES", "{not json", "not valid JSON"),
        ("SCENARIO_MIGRATION_OVERRIDES", "[1, 2]", "must be a JSON object"),
        ("SCENARIO_MIGRATION_OVERRIDES", '{"bogus": 1}', r"scenario_migration\.bogus: Extra inputs"),
        ("SCENARIO_MIGRATION__GAP_FILL__CONFIRMATION_THRESHOLD", "1.5", r"gap_fill\.confirmation_threshold"),
        ("SCENARIO_MIGRATION__GAP_FILL__CONFIRMATION_THRESHOLD", "0.5", "confirmation_threshold must be >="),
        ("SCENARIO_MIGRATION__RETENTION__PLAN_RETENTION_DAYS", "0", r"retention\.plan_retention_days"),
        ("SCENARIO_MIGRATION__DEPLOYMENT__REQUIRE_APPROVAL", "maybe", r"deployment\.require_approval"),
        ("SCENARIO_MIGRATION_CONFIG_FILE", "/nowhere.toml", "configuration file not found"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_a_key_missing_from_the_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "config" / "default.toml").read_text().replace("require_approval = true\n", "")
    (tmp_path / "partial.toml").write_text(text)
    monkeypatch.setenv("SCENARIO_MIGRATION_CONFIG_FILE", str(tmp_path / "partial.toml"))
    with pytest.raises(ConfigError, match=r"deployment\.require_approval: Field required"):
        load_settings()


@pytest.mark.parametrize("module", ["jit_apply.app", "planning.app", "deploy_worker.app", "retention.app"])
def test_a_function_with_an_invalid_configuration_fails_at_start(module: str) -> None:
    """At import (Lambda's init phase), not on some later request."""
    env = {"SCENARIO_MIGRATION__GAP_FILL__MAX_CONVERSATION_TURNS": "-1", "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT / 'shared'}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "gap_fill.max_conversation_turns" in result.stderr


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        load_settings().enabled = False  # type: ignore[misc]
    assert MigrationSettings.model_config["frozen"]


def test_max_conversation_turns_is_bounded_by_what_extraction_reads() -> None:
    bound = GapFillConfig.model_fields["max_conversation_turns"].metadata
    assert any(getattr(m, "le", None) == extraction.MAX_TURNS for m in bound)

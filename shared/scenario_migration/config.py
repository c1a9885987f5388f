"""Typed configuration: `config/default.toml` (packaged with the layer), overridden by environment.

The TOML file is the single source of defaults, so the models below declare none: a key missing
from the file is as much an error as a wrong value. Environment variables override one key at a
time, named after the key's path (`SCENARIO_MIGRATION__GAP_FILL__MAX_CONVERSATION_TURNS=10`);
`SCENARIO_MIGRATION_OVERRIDES` holds a JSON object of any part of the table (what the stack's
`ConfigOverrides` parameter sets), merged key by key over the file. Per-key variables win over it.
`SCENARIO_MIGRATION_CONFIG_FILE` points at another TOML file (tests, other stacks).
"""

import json
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scenario_migration.errors import validation_problems

CONFIG_FILE_ENV = "SCENARIO_MIGRATION_CONFIG_FILE"
OVERRIDES_ENV = "SCENARIO_MIGRATION_OVERRIDES"
PACKAGED_CONFIG = Path(__file__).with_name("default.toml")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Days = Annotated[int, Field(ge=1, le=3650)]
# A Bedrock model id, inference profile id or ARN (letters, digits and `._:/-`, as Converse takes it).
BedrockModelId = Annotated[str, Field(max_length=2048, pattern=r"^[A-Za-z0-9._:/-]*$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentConfig(_Section):
    auto_mark_sessions: bool
    require_approval: bool
    # Items each plan's counters are spread over (one DynamoDB item takes ~1,000 writes/s).
    counter_shards: Annotated[int, Field(ge=1, le=1000)]
    # At most this many ranges of step hashes per index shard: at most 8 x this work units.
    marking_ranges: Annotated[int, Field(ge=1, le=16)]
    # A deploy cuts a shard into one range per this many of its live sessions (by the plan-time
    # census): so from twice this many.
    unit_sessions: Annotated[int, Field(ge=1, le=10_000_000)]
    # A canary is not widened while the share of blocked, kept and failed migrations in it is
    # above this threshold, once it has judged at least canary_guard_min_migrations of them.
    canary_guard_threshold: Probability
    canary_guard_min_migrations: Annotated[int, Field(ge=0, le=1_000_000)]

    @model_validator(mode="after")
    def _ranges_split_the_hex_digits(self) -> Self:
        if 16 % self.marking_ranges:
            raise ValueError("marking_ranges must divide the 16 hex digits: 1, 2, 4, 8 or 16")
        return self


class GapFillConfig(_Section):
    extraction_enabled: bool
    extraction_confidence_threshold: Probability
    confirmation_threshold: Probability
    # At most what the rule extractor reads (domain/extraction.py MAX_TURNS, a test keeps them equal).
    max_conversation_turns: Annotated[int, Field(ge=0, le=20)]
    max_reasks: Annotated[int, Field(ge=0, le=10)]
    # Who reads field values out of the conversation: "rules" (deterministic, no I/O) or
    # "bedrock" (Amazon Bedrock's Converse API with `bedrock_model_id`; answers are validated
    # by field type like any other value, and a failed call means "not found").
    extractor: Literal["rules", "bedrock"]
    bedrock_model_id: BedrockModelId

    @model_validator(mode="after")
    def _confirmation_not_below_extraction(self) -> Self:
        if self.confirmation_threshold < self.extraction_confidence_threshold:
            raise ValueError(
                "confirmation_threshold must be >= extraction_confidence_threshold "
                "(values between the two are confirmed with the customer)"
            )
        return self

    @model_validator(mode="after")
    def _bedrock_needs_a_model(self) -> Self:
        if self.extractor == "bedrock" and not self.bedrock_model_id:
            raise ValueError('bedrock_model_id must name a model when extractor = "bedrock"')
        return self


class ReRoutingConfig(_Section):
    enabled: bool
    notify_user: bool
    notification_template: Annotated[str, Field(min_length=1, max_length=1000)]


class CheckpointsConfig(_Section):
    block_teleport_past_checkpoint: bool


class RetentionConfig(_Section):
    version_retention_days: Days
    plan_retention_days: Days
    # Personal data expires (DynamoDB TTL): a closed session this long after it closed, a JIT
    # audit record this long after it was written.
    closed_session_days: Days
    audit_record_days: Days


class LimitsConfig(_Section):
    """Bounds on submitted scenario documents; every limit is enforced by scenario validation."""

    max_steps: Annotated[int, Field(ge=1, le=200_000)]
    max_transitions_per_step: Annotated[int, Field(ge=1, le=1000)]
    max_fields: Annotated[int, Field(ge=0, le=10_000)]
    max_string_length: Annotated[int, Field(ge=16, le=100_000)]
    max_condition_length: Annotated[int, Field(ge=16, le=100_000)]
    # A request body's bytes as Lambda's event carries it (JSON-escaped): Lambda's 6 MB event, less
    # room for the request's headers and context.
    max_body_bytes: Annotated[int, Field(ge=1024, le=5_800_000)]


class MigrationSettings(BaseSettings):
    """The `[scenario_migration]` table of the configuration file."""

    model_config = SettingsConfigDict(
        env_prefix="SCENARIO_MIGRATION__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    enabled: bool
    deployment: DeploymentConfig
    gap_fill: GapFillConfig
    re_routing: ReRoutingConfig
    checkpoints: CheckpointsConfig
    retention: RetentionConfig
    limits: LimitsConfig

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(
            settings_cls, toml_file=config_file(), toml_table_header=("scenario_migration",)
        )
        overrides = InitSettingsSource(settings_cls, init_kwargs=json_overrides())
        return init_settings, env_settings, overrides, toml


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names every offending key."""


def json_overrides() -> dict[str, object]:
    """The JSON object in SCENARIO_MIGRATION_OVERRIDES ({} when unset or blank)."""
    text = os.environ.get(OVERRIDES_ENV, "").strip()
    if not text:
        return {}
    try:
        overrides = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{OVERRIDES_ENV} is not valid JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f'{OVERRIDES_ENV} must be a JSON object like {{"deployment": {{...}}}}')
    return overrides


def config_file() -> Path:
    path = Path(os.environ.get(CONFIG_FILE_ENV) or PACKAGED_CONFIG)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    return path


def load_settings(**overrides: object) -> MigrationSettings:
    """Read and validate the configuration now (no cache): for start-up checks and tests."""
    try:
        return MigrationSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"scenario_migration.{p['location']}: {p['message']}" for p in validation_problems(exc.errors())
        )
        where = f"{config_file()} and the environment"
        raise ConfigError(f"invalid configuration ({where}): {problems}") from None


@cache
def get_settings() -> MigrationSettings:
    """The settings of this container, read once (a Lambda container's environment is fixed)."""
    return load_settings()

"""The scenario registry: first versions, the active version, reads of any version."""

from functools import lru_cache
from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.scenario import Scenario, check_scenario
from scenario_migration.errors import InvalidInput, NotFound, ScenarioInvalid
from scenario_migration.store import scenarios as store
from scenario_migration.store.scenarios import VersionInfo


def validate(scenario: Scenario, location: str = "") -> Scenario:
    """Graph checks and limits on a structurally valid document (400 listing every problem)."""
    problems = check_scenario(scenario, get_settings().limits)
    if problems:
        raise ScenarioInvalid([{**p, "location": f"{location}{p['location']}"} for p in problems])
    return scenario


def document_of(scenario: Scenario) -> dict[str, Any]:
    return scenario.model_dump(mode="json", exclude_none=True)


def register(tenant: str, scenario: Scenario) -> VersionInfo:
    """Create a scenario with its first version (active at once)."""
    if not scenario.id:
        raise InvalidInput(
            "the scenario needs an id", [{"location": "id", "message": "required to register"}]
        )
    validate(scenario)
    info = VersionInfo(
        scenario_id=scenario.id,
        version=scenario.version,
        name=scenario.name,
        created_at=isoformat(utcnow()),
        step_count=len(scenario.steps),
    )
    store.create_scenario(tenant, info, document_of(scenario))
    return info


def active_version(tenant: str, scenario_id: str) -> int:
    version = store.get_active_version(tenant, scenario_id)
    if version is None:
        raise NotFound(f"scenario '{scenario_id}' not found")
    return version


def latest_version(tenant: str, scenario_id: str) -> int:
    """The scenario's latest deployed version: the one plans are made from and sessions migrate
    to. The active version (new sessions start on it) except during a canary that keeps new
    sessions on the old version: then the canary's target (issue 14)."""
    active = store.get_active(tenant, scenario_id)
    if active is None:
        raise NotFound(f"scenario '{scenario_id}' not found")
    return active.get("target_version", active["active_version"])


def read_version(tenant: str, scenario_id: str, version: int) -> tuple[VersionInfo, dict[str, Any]]:
    found = store.get_version(tenant, scenario_id, version)
    if found is None:
        raise NotFound(f"scenario '{scenario_id}' has no version {version}")
    return found


def list_versions(tenant: str, scenario_id: str) -> list[VersionInfo]:
    versions = store.list_versions(tenant, scenario_id)
    if not versions:
        raise NotFound(f"scenario '{scenario_id}' not found")
    return versions


@lru_cache(maxsize=16)
def load_graph(tenant: str, scenario_id: str, version: int) -> ScenarioGraph:
    """A version's graph, cached like the version (its dominators and reachability with it)."""
    return ScenarioGraph(load_version(tenant, scenario_id, version))


@lru_cache(maxsize=64)
def load_version(tenant: str, scenario_id: str, version: int) -> Scenario:
    """A parsed version, cached for the container's life: versions never change once written."""
    _, document = read_version(tenant, scenario_id, version)
    return Scenario.model_validate(document)

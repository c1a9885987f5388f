"""Scenario versions: conditional creation, documents in parts, the guarded delete, tenants."""

import json
import secrets

import pytest

from scenario_migration.errors import Conflict
from scenario_migration.store import documents, keys, plans, scenarios
from tests.documents import V1, V2_DOWNSTREAM
from tests.store.helpers import new_plan, new_scenario, new_tenant
from tests.store.helpers import version_info as info


def big_document(version: int) -> dict:
    """About 1.4 MB of random hex, 700 KB compressed: three parts of at most 350 KB each."""
    return {**V2_DOWNSTREAM, "version": version, "notes": [secrets.token_hex(512) for _ in range(1400)]}


def test_a_scenario_is_created_once(tenant: str) -> None:
    new_scenario(tenant)
    with pytest.raises(Conflict):
        new_scenario(tenant, document={**V1, "name": "Another"})
    assert scenarios.get_version(tenant, "order-flow", 1)[1]["name"] == V1["name"]
    assert scenarios.get_active_version(tenant, "order-flow") == 1


def test_versions_are_immutable_and_large_ones_come_in_parts(tenant: str) -> None:
    new_scenario(tenant)
    document = big_document(2)
    assert len(documents.encode(document)) == 3
    assert scenarios.put_version(tenant, info(2), document)
    assert not scenarios.put_version(tenant, info(2), document)  # the same again: a retry, nothing new
    with pytest.raises(Conflict, match="another document"):
        scenarios.put_version(tenant, info(2), {**V2_DOWNSTREAM, "name": "Changed"})
    version, read = scenarios.get_version(tenant, "order-flow", 2)
    assert read == document and version.version == 2
    assert [v.version for v in scenarios.list_versions(tenant, "order-flow")] == [1, 2]  # no parts listed
    assert scenarios.get_version(tenant, "order-flow", 3) is None


def test_the_active_version_is_never_deleted(tenant: str) -> None:
    new_scenario(tenant)
    assert scenarios.put_version(tenant, info(2), big_document(2))
    assert not scenarios.delete_version(tenant, "order-flow", 1)
    assert scenarios.get_version(tenant, "order-flow", 1) is not None
    assert scenarios.delete_version(tenant, "order-flow", 2)
    assert scenarios.get_version(tenant, "order-flow", 2) is None
    assert [v.version for v in scenarios.list_versions(tenant, "order-flow")] == [1]
    assert scenarios.delete_version(tenant, "order-flow", 9)  # already gone: nothing to do


def test_versions_under_two_tenants(tenant: str) -> None:
    other = new_tenant()
    new_scenario(tenant)
    new_scenario(other, document={**V1, "name": "Theirs"})
    assert scenarios.put_version(other, info(2), V2_DOWNSTREAM)
    assert scenarios.get_version(tenant, "order-flow", 1)[1]["name"] == V1["name"]
    assert scenarios.get_version(other, "order-flow", 1)[1]["name"] == "Theirs"
    assert scenarios.get_version(tenant, "order-flow", 2) is None
    assert [v.version for v in scenarios.list_versions(tenant, "order-flow")] == [1]
    assert scenarios.delete_version(tenant, "order-flow", 2)  # not this tenant's: nothing happens
    assert scenarios.get_version(other, "order-flow", 2) is not None


def test_retention_scans_page_through_every_tenant(tenant: str) -> None:
    """Bounded pages across tenants; a page's last key survives the JSON of the retention cursor."""
    new_scenario(tenant)
    scenarios.put_version(tenant, info(2), V2_DOWNSTREAM)
    scenarios.put_version(tenant, info(3), big_document(3))  # three parts: the head and two more
    plan_ids = {new_plan(tenant).id for _ in range(3)}
    found_plans, found_versions = [], []
    for scan, found in ((plans.scan_plans, found_plans), (scenarios.scan_versions, found_versions)):
        start = None
        while True:
            items, start = scan(start, 200)
            found.extend(item for item in items if item["pk"].startswith(f"T#{tenant}#"))
            if not start:
                break
            start = json.loads(json.dumps(start))
    assert {item["id"] for item in found_plans} == plan_ids
    assert {item["status"] for item in found_plans} == {"pending"}
    heads = [item for item in found_versions if "version" in item]
    assert sorted((item["version"], item["parts"]) for item in heads) == [(1, 1), (2, 1), (3, 3)]
    parts = [item for item in found_versions if "version" not in item]  # for retention's orphan sweep
    writer = next(item["writer"] for item in heads if item["version"] == 3)
    assert sorted(item["sk"] for item in parts) == [
        keys.part_sk(keys.writer_prefix(keys.version_sk(3), writer), i) for i in (1, 2)
    ]

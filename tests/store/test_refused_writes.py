"""A refused or lost write never corrupts data (issue 11, section 4): large documents are stored in
parts, and a writer whose condition fails must leave the stored parts as they were. Real
concurrency (threads at a barrier), on moto and on DynamoDB Local.

Before: the second registration of a 3,000-step scenario was refused (409) after overwriting the
first one's parts, and of two versions of one number written at once the head of one pointed at
the other's parts; both read back as zlib errors (a 500, and JIT failing on the version)."""

from datetime import timedelta

import pytest

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.errors import Conflict
from scenario_migration.store import documents, keys, scenarios
from scenario_migration.store.dynamodb import client, from_item, to_item
from tests.documents import large_scenario
from tests.store.helpers import race, version_info

ROUNDS = 3


def register(tenant: str, document: dict) -> None:
    scenarios.create_scenario(tenant, version_info(document["version"], document["id"]), document)


def stored_parts(tenant: str, version: int, scenario_id: str = "order-flow") -> list[dict]:
    """The part items of a version, every writer's (not the head)."""
    response = client().query(
        TableName=scenarios._table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :parts)",
        ExpressionAttributeValues=to_item(
            {":pk": keys.scenario_pk(tenant, scenario_id), ":parts": keys.version_sk(version) + "#"}
        ),
        ProjectionExpression="pk, sk, writer, written_at",
        ConsistentRead=True,
    )
    return [from_item(item) for item in response["Items"]]


def head_writer(tenant: str, version: int, scenario_id: str = "order-flow") -> str:
    key = {"pk": keys.scenario_pk(tenant, scenario_id), "sk": keys.version_sk(version)}
    return from_item(client().get_item(TableName=scenarios._table(), Key=to_item(key))["Item"])["writer"]


def orphan(tenant: str, version: int, age: timedelta) -> str:
    """A part a writer that died between its parts and its head left behind `age` ago."""
    writer = documents.new_writer()
    item = {
        "pk": keys.scenario_pk(tenant, "order-flow"),
        "sk": keys.part_sk(keys.writer_prefix(keys.version_sk(version), writer), 1),
        "data": b"not a document",
        "writer": writer,
        "written_at": isoformat(utcnow() - age),
    }
    client().put_item(TableName=scenarios._table(), Item=to_item(item))
    return writer


def test_registering_a_large_scenario_twice_leaves_the_first_intact(tenant: str) -> None:
    first, second = large_scenario(1, seed=1), large_scenario(1, seed=2)
    register(tenant, first)
    with pytest.raises(Conflict):
        register(tenant, second)
    assert scenarios.get_version(tenant, "order-flow", 1)[1] == first
    assert {p["writer"] for p in stored_parts(tenant, 1)} == {head_writer(tenant, 1)}  # the loser's went


def test_concurrent_registrations_one_wins_and_its_document_is_stored(tenant: str) -> None:
    for round_ in range(ROUNDS):
        scenario_id = f"race-{round_}"
        contenders = [large_scenario(1, seed=s, scenario_id=scenario_id) for s in (10 + round_, 20 + round_)]
        results = race(*(lambda d=d: register(tenant, d) for d in contenders))
        assert sorted(type(r).__name__ for r in results) == ["Conflict", "NoneType"], results
        assert scenarios.get_version(tenant, scenario_id, 1)[1] == contenders[results.index(None)]
        assert len(stored_parts(tenant, 1, scenario_id)) == 1


def test_concurrent_versions_of_one_number_one_wins_the_other_is_a_conflict(tenant: str) -> None:
    register(tenant, large_scenario(1, seed=0))
    for version in range(2, 2 + ROUNDS):
        contenders = [large_scenario(version, seed=s) for s in (10 * version, 10 * version + 1)]
        results = race(
            *(lambda d=d, v=version: scenarios.put_version(tenant, version_info(v), d) for d in contenders)
        )
        assert sorted(type(r).__name__ for r in results) == ["Conflict", "bool"], results
        assert scenarios.get_version(tenant, "order-flow", version)[1] == contenders[results.index(True)]
        assert len(stored_parts(tenant, version)) == 1


def test_writing_the_same_version_again_is_recognised_and_changes_nothing(tenant: str) -> None:
    """A retried deploy writes the same document: False, not a conflict; its parts are dropped."""
    register(tenant, large_scenario(1, seed=0))
    document = large_scenario(2, seed=5)
    results = race(*(lambda: scenarios.put_version(tenant, version_info(2), document) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert not scenarios.put_version(tenant, version_info(2), document)
    assert scenarios.get_version(tenant, "order-flow", 2)[1] == document
    assert len(stored_parts(tenant, 2)) == 1


def test_readers_follow_only_the_head(tenant: str) -> None:
    document = large_scenario(1, seed=3)
    register(tenant, document)
    orphan(tenant, 1, timedelta(0))  # another writer's part 1, as a loser in flight would write it
    assert scenarios.get_version(tenant, "order-flow", 1)[1] == document


def test_orphans_are_swept_once_their_writer_must_be_done(tenant: str) -> None:
    """The next write of the version, its deletion and retention each remove parts no head names,
    past ORPHAN_GRACE; a younger one may be a write in progress and stays."""
    register(tenant, large_scenario(1, seed=0))
    old, young = timedelta(hours=2), timedelta(minutes=5)
    stale, fresh = orphan(tenant, 2, old), orphan(tenant, 2, young)
    assert scenarios.put_version(tenant, version_info(2), large_scenario(2, seed=1))
    assert {p["writer"] for p in stored_parts(tenant, 2)} == {head_writer(tenant, 2), fresh}
    assert stale not in {p["writer"] for p in stored_parts(tenant, 2)}

    orphan(tenant, 3, old), orphan(tenant, 3, young)  # a head never written: only retention sees them
    scanned = [*stored_parts(tenant, 1), *stored_parts(tenant, 2), *stored_parts(tenant, 3)]
    assert scenarios.delete_orphan_parts(scanned, utcnow()) == 1  # the old one of version 3
    assert len(stored_parts(tenant, 3)) == 1
    assert {p["writer"] for p in stored_parts(tenant, 2)} == {head_writer(tenant, 2), fresh}  # kept
    assert len(stored_parts(tenant, 1)) == 1

    assert scenarios.delete_version(tenant, "order-flow", 2)
    assert [p["writer"] for p in stored_parts(tenant, 2)] == [fresh]  # the head's parts went with it
    later = [*stored_parts(tenant, 2), *stored_parts(tenant, 3)]
    assert scenarios.delete_orphan_parts(later, utcnow() + old) == 2  # now both are past the grace
    assert stored_parts(tenant, 2) == stored_parts(tenant, 3) == []

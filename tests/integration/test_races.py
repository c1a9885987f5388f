"""A refused or lost race never corrupts data (issue 11, section 4), through the handlers and the
services, with real threads on moto and DynamoDB Local (tests/store/test_refused_writes.py has the
store's side). Before: a refused second registration of a large scenario left the first one
unreadable (a 500), and of two plans of one scenario deployed at once, one got a 202, the other a
409, and the active version was a mix of both plans' parts, 5 times out of 5."""

import pytest

from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.services import deployments, scenarios
from scenario_migration.store import plans as plan_store
from tests.documents import large_scenario, report, step
from tests.integration.harness import Api, approve, invoke_jit, propose
from tests.store.helpers import race

ROUNDS = 5


def with_intro(document: dict, intro: str) -> dict:
    """`document` with a step of its own before the entry: every compressed part differs."""
    first = step(intro, f"Intro {intro}", document["entry_step_id"])
    return {**document, "entry_step_id": intro, "steps": [first, *document["steps"]]}


def test_a_refused_registration_of_a_large_scenario_leaves_the_first_readable(api: Api, tenant: str) -> None:
    first, second = large_scenario(1, seed=1), large_scenario(1, seed=2)
    assert api.post("/api/v1/scenarios", first).status == 201
    assert api.post("/api/v1/scenarios", second).status == 409
    response = api.get("/api/v1/scenarios/order-flow")
    assert response.status == 200, response.body  # was a 500 (zlib.error)
    stored = response.body["document"]["steps"]
    assert [s["description"] for s in stored] == [s["description"] for s in first["steps"]]
    assert api.put("/api/v1/sessions/s1", report("s00001")).status == 200


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_plans_deployed_at_once_one_wins_and_its_version_is_whole(
    api: Api, tenant: str, queue_url: str, round_: int
) -> None:
    v1 = large_scenario(1, seed=round_)
    assert api.post("/api/v1/scenarios", v1).status == 201
    v2 = {**v1, "version": 2}
    plans = [propose(api, with_intro(v2, intro)) for intro in ("intro_a", "intro_b")]
    for plan in plans:
        approve(api, plan)
    results = race(*(lambda p=p: deployments.deploy(tenant, p["id"]) for p in plans))
    assert sorted(isinstance(r, Conflict) for r in results) == [False, True], results
    winner = plans[next(i for i, r in enumerate(results) if not isinstance(r, Conflict))]
    stored = plan_store.get_plan_item(tenant, winner["id"])
    assert scenarios.active_version(tenant, "order-flow") == 2
    _, document = scenarios.read_version(tenant, "order-flow", 2)  # whole: it decompresses
    assert document == plan_store.get_new_scenario(tenant, winner["id"], stored["doc_parts"])
    assert plan_store.get_plan(tenant, winner["id"]).status in (PlanStatus.DEPLOYING, PlanStatus.DEPLOYED)
    assert (
        api.get("/api/v1/scenarios/order-flow").body["document"]["entry_step_id"] == document["entry_step_id"]
    )
    assert api.put("/api/v1/sessions/s1", report("s00001")).status == 200  # on version 1, no marker
    applied = invoke_jit({"tenant_id": tenant, "session_id": "s1", "message": "hi"})
    assert (applied["outcome"], applied["to_version"]) == ("migrated", 2), applied  # JIT reads it

"""`make demo`: the whole quickstart against the local run (`make run` in another terminal).

Creates a scenario, puts a few thousand customers on its steps and channels, walks the plan,
review, policies, approval and deploy, then lets the customers come back (JIT apply through the
Lambda Invoke endpoint) and prints the deployment status as it converges.
"""

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

BASE = os.environ.get("DEMO_URL", "http://127.0.0.1:8000")
API = f"{BASE}/api/v1"
TENANT = "demo"
CUSTOMERS = int(os.environ.get("DEMO_CUSTOMERS", "2000"))
CHANNELS = ["whatsapp", "web", "sms"]


def call(method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{API}{path}", data=data, method=method)
    request.add_header("X-Tenant-ID", TENANT)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        sys.exit(f"{method} {path} -> {exc.code}: {exc.read().decode()}")


def step(step_id: str, name: str, to: list[tuple[str, str | None, int]], **extra: Any) -> dict[str, Any]:
    transitions = [{"to_step_id": t, "condition": c, "priority": p} for t, c, p in to]
    return {"id": step_id, "name": name, "transitions": transitions, **extra}


def version_1(scenario_id: str) -> dict[str, Any]:
    return {
        "id": scenario_id,
        "name": "Order Flow",
        "version": 1,
        "entry_step_id": "welcome",
        "steps": [
            step("welcome", "Welcome", [("browse", None, 0)]),
            step("browse", "Browse", [("cart", None, 0)]),
            step("cart", "Cart", [("checkout", None, 0)]),
            step("checkout", "Checkout", [("payment", None, 0)]),
            step(
                "payment",
                "Payment",
                [("confirm", None, 0)],
                is_checkpoint=True,
                performs_action=True,
                checkpoint_description="card charged",
            ),
            step("confirm", "Confirm", [("legacy_survey", None, 0)]),
            step("legacy_survey", "Legacy Survey", [("goodbye", None, 0)]),
            step("goodbye", "Goodbye", []),
        ],
    }


def version_2() -> dict[str, Any]:
    """Ask Email inserted before Cart (gap fill), an age fork before Checkout (re-route),
    a Loyalty step after Confirm (downstream: clean graft), the survey deleted."""
    return {
        "name": "Order Flow",
        "version": 2,
        "entry_step_id": "welcome",
        "fields": [
            {
                "name": "age",
                "type": "integer",
                "question": "Before we continue, what is your age?",
                "extraction_hints": ["age", "years old"],
                "minimum": 0,
                "maximum": 130,
            },
            {
                "name": "email",
                "type": "email",
                "question": "What email should we send the receipt to?",
                "extraction_hints": ["email", "mail"],
            },
        ],
        "steps": [
            step("welcome", "Welcome", [("browse", None, 0)]),
            step("browse", "Browse", [("ask_email", None, 0)]),
            step("ask_email", "Ask Email", [("cart", None, 0)], collects_fields=["email"]),
            step("cart", "Cart", [("age_check", None, 0)]),
            step(
                "age_check",
                "Age Verification",
                [("rejection", "age < 18", 1), ("checkout", "age >= 18", 0)],
                collects_fields=["age"],
            ),
            step("rejection", "Rejection", []),
            step("checkout", "Checkout", [("payment", None, 0)]),
            step(
                "payment",
                "Payment",
                [("confirm", None, 0)],
                is_checkpoint=True,
                performs_action=True,
                checkpoint_description="card charged",
            ),
            step("confirm", "Confirm", [("loyalty", None, 0)]),
            step("loyalty", "Loyalty Offer", [("goodbye", None, 0)]),
            step("goodbye", "Goodbye", []),
        ],
    }


PATH_TO = {
    "welcome": [],
    "browse": ["welcome"],
    "cart": ["welcome", "browse"],
    "checkout": ["welcome", "browse", "cart"],
    "payment": ["welcome", "browse", "cart", "checkout"],
    "confirm": ["welcome", "browse", "cart", "checkout", "payment"],
    "legacy_survey": ["welcome", "browse", "cart", "checkout", "payment", "confirm"],
}


def progress(label: str, done: int, total: int) -> None:
    width = 40
    filled = int(width * done / total) if total else width
    print(f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)


def populate(scenario_id: str, rng: random.Random) -> list[str]:
    steps = list(PATH_TO)
    ids = [f"{scenario_id}-c{i:05d}" for i in range(CUSTOMERS)]

    def report(session_id: str) -> None:
        current = rng.choice(steps)
        call(
            "PUT",
            f"/sessions/{session_id}",
            {
                "scenario_id": scenario_id,
                "scenario_version": 1,
                "current_step_id": current,
                "channel": rng.choice(CHANNELS),
                "visited_step_ids": PATH_TO[current],
                "status": "idle",
            },
        )

    with ThreadPoolExecutor(8) as pool:
        for done, _ in enumerate(pool.map(report, ids), start=1):
            if done % 50 == 0 or done == len(ids):
                progress("customers reported", done, len(ids))
    print()
    return ids


def wait_for_marking(plan_id: str) -> dict[str, Any]:
    while True:
        status = call("GET", f"/migration-plans/{plan_id}/deployment-status")
        fanout = status["fanout"]
        progress("work units marked", fanout["units_done"], fanout["units_total"])
        if status["status"] == "deployed":
            print(f"\n{status['sessions_marked']} sessions marked")
            return status
        time.sleep(0.5)


def customer_returns(lam: Any, session_id: str, rng: random.Random) -> str:
    """A returning customer: some have a profile, some said things before, some must answer."""
    profile = {"age": rng.choice([16, 17, 25, 34, 52])} if rng.random() < 0.5 else {}
    said = ["my email is " + session_id.lower() + "@example.com"] if rng.random() < 0.6 else []
    payload = {
        "tenant_id": TENANT,
        "session_id": session_id,
        "message": "hi again",
        "profile": profile,
        "conversation": [{"role": "customer", "text": t} for t in said],
    }
    for _ in range(4):  # answer questions as they come
        result = json.loads(
            lam.invoke(FunctionName="JitApplyFunction", Payload=json.dumps(payload))["Payload"].read()
        )
        if result["outcome"] != "needs_input":
            return result["outcome"]
        field = result["questions"][0]["field"]
        answer = {"age": str(rng.choice([17, 29, 41])), "email": f"{session_id.lower()}@example.org"}[field]
        payload = {**payload, "message": answer, "conversation": []}
    return "needs_input"


def main() -> None:
    rng = random.Random(7)
    scenario_id = f"order-flow-{int(time.time())}"
    print(f"scenario {scenario_id}, tenant {TENANT}, {CUSTOMERS} customers")
    call("POST", "/scenarios", version_1(scenario_id))
    ids = populate(scenario_id, rng)
    plan = call(
        "POST",
        f"/scenarios/{scenario_id}/migration-plan",
        {"new_scenario": version_2(), "created_by": "demo@example.com"},
    )
    summary = call("GET", f"/migration-plans/{plan['id']}/summary")
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "total_anchors",
                    "anchors_with_clean_graft",
                    "anchors_with_gap_fill",
                    "anchors_with_re_route",
                    "nodes_deleted",
                    "estimated_sessions_affected",
                )
            }
        )
    )
    for warning in summary["warnings"]:
        print(
            f"  [{warning['severity']}] {warning['message']} "
            f"({warning['affected_sessions_estimate']} sessions)"
        )
    browse = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Browse")
    call(
        "PUT",
        f"/migration-plans/{plan['id']}/policies",
        {
            "policies": {
                browse["anchor_content_hash"]: {
                    "anchor_name": "Browse",
                    "scope_filter": {"exclude_channels": ["sms"]},
                    "update_downstream": True,
                }
            }
        },
    )
    call("POST", f"/migration-plans/{plan['id']}/approve", {"approved_by": "demo@example.com"})
    print("deploy:", json.dumps(call("POST", f"/migration-plans/{plan['id']}/deploy")))
    wait_for_marking(plan["id"])
    lam = boto3.client(
        "lambda",
        endpoint_url=BASE,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    outcomes: dict[str, int] = {}
    with ThreadPoolExecutor(8) as pool:
        seeds = [random.Random(i) for i in range(len(ids))]
        for done, outcome in enumerate(
            pool.map(lambda a: customer_returns(lam, *a), zip(ids, seeds, strict=True)), start=1
        ):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if done % 25 == 0 or done == len(ids):
                progress("customers returned", done, len(ids))
    print("\noutcomes:", outcomes)
    final = call("GET", f"/migration-plans/{plan['id']}/deployment-status")
    print(json.dumps(final, indent=2))
    by = final["migrations_by_scenario"]
    if not (by["clean_graft"] and by["gap_fill"] and by["re_route"] and final["checkpoint_blocks"]):
        sys.exit("demo incomplete: some migration scenario or checkpoint block did not occur")


if __name__ == "__main__":
    main()

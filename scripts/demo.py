"""`make demo`: the whole quickstart against the local run (`make run` in another terminal, on
the same LOCAL_PORT).

Creates a scenario, puts a few thousand customers (DEMO_CUSTOMERS, 2,000) on its steps and
channels, walks the plan, review, policies, approval and deploy, then lets the customers come
back (JIT apply through the Lambda Invoke endpoint), prints the deployment status, and ends with
a table per anchor read back from the API: the plan's map, each session's marker and audit trail.
"""

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from scripts.local import BASE, lambda_client, not_running, require_local_run

API = f"{BASE}/api/v1"
TENANT = "demo"
CUSTOMERS = int(os.environ.get("DEMO_CUSTOMERS") or "2000")
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
    except urllib.error.URLError as exc:
        sys.exit(not_running("make demo", exc.reason))


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
    """A bar redrawn in place on a terminal; elsewhere (a log, a pipe) only the last state."""
    if not sys.stdout.isatty() and done < total:
        return
    width = 40
    filled = int(width * done / total) if total else width
    print(f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)


def populate(scenario_id: str, rng: random.Random) -> list[str]:
    """Customers on random steps and channels, drawn before the parallel reports: the same
    customers every run."""
    ids = [f"{scenario_id}-c{i:05d}" for i in range(CUSTOMERS)]
    places = [(session_id, rng.choice(list(PATH_TO)), rng.choice(CHANNELS)) for session_id in ids]

    def report(place: tuple[str, str, str]) -> None:
        session_id, current, channel = place
        call(
            "PUT",
            f"/sessions/{session_id}",
            {
                "scenario_id": scenario_id,
                "scenario_version": 1,
                "current_step_id": current,
                "channel": channel,
                "visited_step_ids": PATH_TO[current],
                "status": "idle",
            },
        )

    in_parallel("customers reported", report, places, every=50)
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


def in_parallel(label: str, work: Callable[[Any], Any], items: list[Any], every: int = 25) -> list[Any]:
    """`work` on each item, 8 at a time, with a progress bar; the results in the items' order."""
    results = []
    with ThreadPoolExecutor(8) as pool:
        for done, result in enumerate(pool.map(work, items), start=1):
            results.append(result)
            if done % every == 0 or done == len(items):
                progress(label, done, len(items))
    print()
    return results


@dataclass
class AnchorRow:
    """One line of the closing table: an anchor (or a deleted step) and its sessions' fate."""

    name: str
    classification: str
    marked: int = 0
    migrated: int = 0
    asked: int = 0
    blocked: int = 0
    kept: int = 0


SETTLED = {"applied": "migrated", "blocked": "blocked", "kept": "kept"}  # marker state -> column


def anchor_rows(plan: dict[str, Any]) -> dict[str, AnchorRow]:
    """The plan's anchors by content hash, in the map's order. Sessions on a deleted step migrate
    from its nearest anchor (their markers name it): that row names the deleted step too."""
    transformation = plan["transformation_map"]
    deleted: dict[str, list[str]] = {}
    for node in transformation["deleted_nodes"]:
        deleted.setdefault(node["nearest_anchor"], []).append(node["node_name"])
    return {
        a["anchor_content_hash"]: AnchorRow(
            a["anchor_name"]
            + "".join(f" + {n} (deleted)" for n in deleted.get(a["anchor_content_hash"], [])),
            a["migration_scenario"],
        )
        for a in transformation["anchors"]
    }


def tally(
    plan: dict[str, Any], sessions: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> list[AnchorRow]:
    """Every session under this plan's marker counts at its marker's anchor: `marked` if the
    deploy's fan-out marked it (`marked_at` set; JIT marks a session the fan-out skipped, e.g.
    out of scope, when it writes again), then its settled state; `asked` if it waits for an
    answer or its audit holds a field the customer gave (a question answered)."""
    rows = anchor_rows(plan)
    for session, migrations in sessions:
        marker = session.get("marker") or {}
        if marker.get("plan_id") != plan["id"]:
            continue
        row = rows.setdefault(marker["anchor"], AnchorRow(str(marker["anchor"]), "?"))
        row.marked += marker["marked_at"] is not None
        if column := SETTLED.get(marker["state"]):
            setattr(row, column, getattr(row, column) + 1)
        answered = any(
            field["source"] == "customer"
            for record in migrations
            if record["plan_id"] == plan["id"]
            for field in record["filled_fields"].values()
        )
        row.asked += marker["state"] == "awaiting_input" or answered
    return list(rows.values())


def print_table(rows: list[AnchorRow]) -> None:
    header = ("anchor", "classification", "marked", "migrated", "asked", "blocked", "kept")
    total = AnchorRow("total", "")
    for row in rows:
        for column in header[2:]:
            setattr(total, column, getattr(total, column) + getattr(row, column))
    lines = [[r.name, r.classification, *(str(getattr(r, c)) for c in header[2:])] for r in [*rows, total]]
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
    for index, line in enumerate([list(header), *lines]):
        if index == len(lines):  # before the total
            print("  ".join("-" * w for w in widths))
        print(
            "  ".join(
                x.ljust(w) if i < 2 else x.rjust(w) for i, (x, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def read_back(plan: dict[str, Any], ids: list[str]) -> list[AnchorRow]:
    """Each customer's marker and audit trail, as the API answers them."""

    def read(session_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        session = call("GET", f"/sessions/{session_id}")
        migrations = call("GET", f"/sessions/{session_id}/migrations")["migrations"]
        return session, migrations

    return tally(plan, in_parallel("sessions read back", read, ids))


def main() -> None:
    require_local_run("make demo")
    rng = random.Random(7)
    scenario_id = f"order-flow-{int(time.time())}"
    print(f"scenario {scenario_id}, tenant {TENANT}, {CUSTOMERS} customers, on {BASE}")
    call("POST", "/scenarios", version_1(scenario_id))
    ids = populate(scenario_id, rng)
    plan = call(
        "POST",
        f"/scenarios/{scenario_id}/migration-plan",
        {"new_scenario": version_2(), "created_by": "demo@example.com"},
    )
    review(plan["id"])
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
    lam = lambda_client()
    seeds = [random.Random(i) for i in range(len(ids))]
    returned = in_parallel(
        "customers returned", lambda pair: customer_returns(lam, *pair), list(zip(ids, seeds, strict=True))
    )
    print("outcomes:", dict(Counter(returned)))
    final = call("GET", f"/migration-plans/{plan['id']}/deployment-status")
    print(json.dumps(final, indent=2))
    rows = read_back(plan, ids)
    print(
        f"\nplan {plan['id']}: sessions per anchor, from their markers and audit trails "
        "(kept: also sessions outside a scope filter, unmarked, met when they wrote again)"
    )
    print_table(rows)
    by = final["migrations_by_scenario"]
    if not (by["clean_graft"] and by["gap_fill"] and by["re_route"] and final["checkpoint_blocks"]):
        sys.exit("demo incomplete: some migration scenario or checkpoint block did not occur")


def review(plan_id: str) -> None:
    summary = call("GET", f"/migration-plans/{plan_id}/summary")
    counts = (
        "total_anchors",
        "anchors_with_clean_graft",
        "anchors_with_gap_fill",
        "anchors_with_re_route",
        "nodes_deleted",
        "estimated_sessions_affected",
    )
    print(json.dumps({k: summary[k] for k in counts}))
    for warning in summary["warnings"]:
        print(
            f"  [{warning['severity']}] {warning['message']} "
            f"({warning['affected_sessions_estimate']} sessions)"
        )


if __name__ == "__main__":
    main()

"""The review console in a real browser: Debian's headless Chromium driven by Playwright against
`python -m local_run`. Load, review (both graphs drawn: every step and transition is an SVG
element, asserted on in the DOM, never on pixels), edit a policy, approve with the critical
warning acknowledged, deploy, and follow the deployment live to `deployed` and on to the first
migrations. Screenshots go to test-artifacts/console/; UPDATE_README_SCREENSHOTS=1 also writes
the README's two (docs/images/). Skipped, with the reason, where Chromium, Playwright or the
vendored graph library is missing (`make test` installs them when it can)."""

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_run import auth
from local_run.dynamodb_local import free_port
from tests.e2e.conftest import Local
from tests.e2e.conftest import running as running_local
from tests.e2e.console_seed import CRITICAL_CODE, SCENARIO_ID, SESSIONS, V1, V2, session_report
from tests.e2e.fake_idp import FakeIdp, Identity

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDORED = ROOT / "functions" / "console" / "static" / "dagre.esm.js"
ARTIFACTS = ROOT / "test-artifacts" / "console"
README_IMAGES = ROOT / "docs" / "images"
README_SHOTS = ("console-review", "console-deployment")
BUDGET_SECONDS = 300  # the whole walk; each wait below takes what is left of it at most
WAIT_MS = 60_000


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's (apt-get, as root)"
    if not VENDORED.exists():
        return "the console's graph library is not vendored: `make console` (needs npm)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415 - only to know whether it is there
    except ImportError:
        return "Playwright for Python is not installed (requirements-dev.txt: make unit)"
    return None


REASON = _unavailable()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """The local run in header mode (the quickstart's): the tenant picker."""
    with running_local(tmp_path_factory.mktemp("console_local_run"), free_port()) as running:
        yield running


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh Chromium page; console errors (CSP refusals included) and page errors are kept."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - absent where skipped

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.set_default_timeout(WAIT_MS)
            tab = context.new_page()
            tab.problems = []
            tab.on("console", lambda m: m.type == "error" and tab.problems.append(m.text))
            tab.on("pageerror", lambda e: tab.problems.append(str(e)))
            yield tab
        finally:
            browser.close()


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def ms(self, at_most: int = WAIT_MS) -> int:
        left = int((self.deadline - time.monotonic()) * 1000)
        assert left > 0, "the browser walk ran out of its time budget"
        return min(at_most, left)


def seed(local: Local, tenant: str) -> dict[str, Any]:
    assert local.http("POST", "/api/v1/scenarios", V1, tenant=tenant)[0] == 201
    for session_id, (where, channel) in SESSIONS.items():
        status, _ = local.http(
            "PUT", f"/api/v1/sessions/{session_id}", session_report(where, channel), tenant
        )
        assert status == 200
    status, plan = local.http(
        "POST",
        f"/api/v1/scenarios/{SCENARIO_ID}/migration-plan",
        {"new_scenario": V2, "created_by": "olga@example.com"},
        tenant,
    )
    assert status == 201, plan
    return plan


def shoot(page: Any, name: str, section: str) -> None:
    """A screenshot of the viewport with `section` at its top, kept as a test artefact (and for
    the README when UPDATE_README_SCREENSHOTS=1)."""
    page.evaluate(
        "s => { document.querySelectorAll('.graph-scroll').forEach(e => e.scrollTo(0, 0));"
        " document.querySelector(s).scrollIntoView({block: 'start'}); }",
        section,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("UPDATE_README_SCREENSHOTS") and name in README_SHOTS:
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_IMAGES / f"{name}.png")


def steps_of(page: Any, graph: str) -> dict[str, tuple[str, set[str], str]]:
    found = page.eval_on_selector_all(
        f"#{graph} svg g.step",
        "els => els.map(e => [e.dataset.stepId, e.dataset.classification, e.dataset.marks,"
        " e.dataset.sessions])",
    )
    return {step: (cls, set(marks.split()), sessions) for step, cls, marks, sessions in found}


def check_review(page: Any, plan: dict[str, Any]) -> None:
    """Both versions drawn with their classifications, marks, forks, sessions and warnings."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.wait_for_selector("#graph-v1 svg g.step")
    page.wait_for_selector("#graph-v2 svg g.step")
    old, new = steps_of(page, "graph-v1"), steps_of(page, "graph-v2")
    assert set(old) == {s["id"] for s in V1["steps"]} and set(new) == {s["id"] for s in V2["steps"]}
    assert {cls for cls, _, _ in new.values()} >= {"clean_graft", "gap_fill", "re_route", "inserted"}
    assert new["age_check"][:2] == ("inserted", {"inserted", "fork"})
    assert new["ask_email"][1] == {"inserted"} and new["ticket"][0] == "gap_fill"
    assert new["payment"][:2] == ("re_route", {"moved"}) and old["payment"][1] == {"moved"}
    assert new["shipping"][1] == {"edited"} and new["confirm"][1] == {"fork"}
    assert old["survey"][:2] == ("deleted", {"deleted"}) and old["survey"][2] == "1"
    assert old["checkout"][2] == "3" and new["checkout"][2] == "3" and old["welcome"][0] == "clean_graft"
    # forks with their conditions on the edges; edges the new version added or dropped
    fork = page.locator('#graph-v2 g.edge[data-from="age_check"]')
    expect(fork).to_have_count(2)
    assert {fork.nth(i).locator("g.edge-label text").text_content() for i in range(2)} == {
        "age < 18 · p1",
        "age >= 18 · p0",
    }
    expect(page.locator('#graph-v2 g.edge-added[data-from="browse"][data-to="age_check"]')).to_have_count(1)
    expect(page.locator('#graph-v1 g.edge-removed[data-from="confirm"][data-to="survey"]')).to_have_count(1)
    # warnings beside the graphs, critical first, and on the steps they concern
    first = page.locator("#warning-list li").first
    expect(first).to_have_attribute("data-code", CRITICAL_CODE)
    expect(first).to_have_attribute("data-severity", "critical")
    assert page.locator("#warning-list li").count() == len(plan["summary"]["warnings"])
    badge = page.locator('#graph-v2 g.step[data-step-id="confirm"] g.warn-badge.sev-critical')
    expect(badge).to_have_count(1)


def check_selection(page: Any) -> None:
    """A warning's step, selected from the list: marked in both versions, its details shown."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.locator("#warning-list li").first.get_by_role("button", name="v2: Confirm").click()
    expect(page.locator('#graph-v2 g.step.selected[data-step-id="confirm"]')).to_have_count(1)
    expect(page.locator('#graph-v1 g.step.selected[data-step-id="confirm"]')).to_have_count(1)
    expect(page.locator("#step-details")).to_contain_text("coupon_code")


def open_plan(page: Any, local: Local, tenant: str, plan: dict[str, Any], budget: Budget) -> None:
    """The tenant picker, the plan list (the scenario beside it), then the plan."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{local.base}/console")
    page.fill("#tenant", tenant)
    page.click("#use-tenant")
    row = page.locator(f'#plan-list tr[data-plan-id="{plan["id"]}"]')
    expect(row).to_have_attribute("data-status", "pending", timeout=budget.ms())
    expect(page.locator(f'#scenario-list li[data-scenario-id="{SCENARIO_ID}"]')).to_contain_text("v1 active")
    shoot(page, "console-plans", "main")
    row.locator("a.plan-link").click()


def edit_policy(page: Any, local: Local, tenant: str, plan: dict[str, Any]) -> None:
    """Checkout's customers: WhatsApp only (the sms one stays on version 1)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["to_step_id"] == "checkout")
    row = page.locator('#policies tr[data-anchor-name="Checkout"]')
    row.locator('[name="include_channels"]').fill("whatsapp")
    row.locator('[name="min_session_age_days"]').fill("0")
    page.click("#save-policies")
    expect(page.locator("#policies-message")).to_have_text("Saved the policies of 1 anchor(s).")
    _, stored = local.http("GET", f"/api/v1/migration-plans/{plan['id']}", tenant=tenant)
    assert stored["policies"][checkout["anchor_content_hash"]]["scope_filter"] == {
        "include_channels": ["whatsapp"],
        "exclude_channels": None,
        "max_session_age_days": None,
        "min_session_age_days": 0,
    }


def approve(page: Any, local: Local, tenant: str, plan: dict[str, Any], budget: Budget) -> None:
    """Approve is refused until the critical warning is acknowledged; its code is what is sent."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.fill("#approver", "rita@example.com")
    expect(page.locator("#approve")).to_be_disabled()
    page.check(f'input.ack[data-code="{CRITICAL_CODE}"]')
    page.click("#approve")
    expect(page.locator("#plan-status")).to_have_text("approved", timeout=budget.ms())
    _, approved = local.http("GET", f"/api/v1/migration-plans/{plan['id']}", tenant=tenant)
    assert approved["acknowledged_warnings"] == [CRITICAL_CODE]
    assert approved["approved_by"] == "rita@example.com"


def deploy_and_follow(page: Any, local: Local, tenant: str, plan: dict[str, Any], budget: Budget) -> None:
    """Deploy, then the page's own polling: marking to `deployed`, then migrations as customers
    write again (no reload)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.click("#deploy")
    expect(page.locator("#deployment-status")).to_have_text("deployed", timeout=budget.ms(120_000))
    path = f"/api/v1/migration-plans/{plan['id']}/deployment-status"
    _, status = local.http("GET", path, tenant=tenant)
    assert status["sessions_marked"] == len(SESSIONS) - 1  # the sms customer at Checkout is out of scope
    expect(page.locator("#sessions-marked")).to_have_text(str(status["sessions_marked"]))
    units = str(status["fanout"]["units_total"])
    progress = page.locator("#marking-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == units
    expect(page.locator("#plan-status")).to_have_text("deployed")
    expect(page.locator("#canary h4")).to_contain_text("All at once: 100 %")  # no canary asked for
    expect(page.locator("#widen-form")).to_be_hidden()
    jit = {"tenant_id": tenant, "session_id": "c1", "profile": {"age": 30}}
    assert local.invoke("JitApplyFunction", jit)["outcome"] == "migrated"  # routed to the moved Payment
    jit = {"tenant_id": tenant, "session_id": "t1", "message": "hi"}
    assert local.invoke("JitApplyFunction", jit)["outcome"] == "needs_input"  # asked for an email
    expect(page.locator("#count-re_route")).to_have_text("1", timeout=budget.ms())
    expect(page.locator("#count-sessions_awaiting_input")).to_have_text("1", timeout=budget.ms())
    expect(page.locator("#count-migrations_applied")).to_have_text("1")


def test_review_policy_approve_deploy_and_follow_it_live(local: Local, page: Any) -> None:
    budget = Budget(BUDGET_SECONDS)
    tenant = f"console-{uuid.uuid4().hex[:8]}"
    plan = seed(local, tenant)
    open_plan(page, local, tenant, plan, budget)
    check_review(page, plan)
    shoot(page, "console-review", "#plan-head")
    check_selection(page)
    edit_policy(page, local, tenant, plan)
    approve(page, local, tenant, plan, budget)
    deploy_and_follow(page, local, tenant, plan, budget)
    shoot(page, "console-deployment", "#plan-head")
    assert page.problems == [], page.problems  # no script error, no CSP refusal


def shown_row(r: dict[str, Any]) -> list[str]:
    """A simulated session as the dry run's table shows it."""
    move = f"{r['from_step_id']} → {r.get('to_step_id') or '—'}" if r.get("from_step_id") else ""
    block = r.get("checkpoint_block")
    detour = f"re-route → {r['re_route']['to_step_id']}" if r.get("re_route") else ""
    if block:
        detour = "checkpoint block" + (f" before {block['to_step_id']}" if block.get("to_step_id") else "")
    scenario = r.get("migration_scenario") or ""
    return [r["session_id"], r["outcome"], scenario, move, r.get("reason") or "", detour]


def dry_run(page: Any, local: Local, tenant: str, plan: dict[str, Any], budget: Budget) -> None:
    """A seeded sample, simulated from the page: what it shows is what the API answers for the
    same request (the same seed draws the same sessions), and nothing was written."""
    from playwright.sync_api import expect  # noqa: PLC0415

    expect(page.locator("#sim-sample")).to_have_value("100")
    page.fill("#sim-seed", "7")
    page.click("#simulate")
    expect(page.locator("#sim-note")).to_contain_text("it wrote nothing", timeout=budget.ms())
    path = f"/api/v1/migration-plans/{plan['id']}/simulate"
    status, answer = local.http("POST", path, {"sample": 100, "seed": 7}, tenant)
    assert status == 200, answer
    totals = answer["aggregate"]
    assert totals["sessions"] == len(SESSIONS) and totals["questions"] and totals["by_migration_scenario"]
    expect(page.locator("#sim-missing")).to_contain_text("conversation, profile")
    for key, n in totals["by_outcome"].items():
        expect(page.locator(f'#sim-by-outcome li[data-key="{key}"] strong')).to_have_text(str(n))
    for key, n in totals["by_migration_scenario"].items():
        expect(page.locator(f'#sim-by-scenario li[data-key="{key}"] strong')).to_have_text(str(n))
    expect(page.locator("#sim-anchors tbody tr")).to_have_count(len(totals["by_anchor"]))
    for anchor, outcomes in totals["by_anchor"].items():
        row = page.locator(f'#sim-anchors tr[data-anchor="{anchor}"]')
        expect(row.locator("td").first).to_have_text(outcomes["anchor_name"])
        expect(row.locator("td.num")).to_have_text(str(outcomes["sessions"]))
    questions = page.locator("#sim-questions li")
    expect(questions).to_have_count(len(totals["questions"]))
    for question in totals["questions"]:
        item = page.locator(f'#sim-questions li[data-field="{question["field"]}"]')
        expect(item).to_have_attribute("data-count", str(question["count"]))
        expect(item).to_contain_text(question["text"])
    rows = page.locator("#sim-results tbody tr")
    expect(rows).to_have_count(len(answer["results"]))
    shown = rows.evaluate_all(
        "trs => trs.map(r => [r.dataset.sessionId, r.dataset.outcome, ...['scenario', 'move', 'reason',"
        " 'detour'].map(c => r.querySelector('td.sim-' + c).textContent)])"
    )
    assert sorted(shown) == sorted(map(shown_row, answer["results"]))  # the draw's order, either way
    _, stored = local.http("GET", f"/api/v1/migration-plans/{plan['id']}", tenant=tenant)
    assert stored["status"] == "pending" and stored["updated_at"] == plan["updated_at"]


def canary_then_widen(page: Any, local: Local, tenant: str, plan: dict[str, Any], budget: Budget) -> None:
    """Deploy to 50 % (new sessions stay on v1), see slice 0 marked in the deployment view,
    widen to 100 from there and see the deployment complete with two slices."""
    from playwright.sync_api import expect  # noqa: PLC0415

    expect(page.locator("#new-sessions-choice")).to_be_hidden()
    page.fill("#canary-percent", "50")
    expect(page.locator("#canary-percent-value")).to_have_text("50 %")
    expect(page.locator("#new-sessions-choice")).to_be_visible()
    page.select_option("#new-sessions", "v1")
    page.click("#deploy")
    expect(page.locator("#canary-percent-now")).to_have_text("50 %", timeout=budget.ms(120_000))
    expect(page.locator("#deployment-status")).to_have_text("deployed", timeout=budget.ms(120_000))
    path = f"/api/v1/migration-plans/{plan['id']}/deployment-status"
    _, status = local.http("GET", path, tenant=tenant)
    canary = status["canary"]
    assert (canary["percent"], canary["new_sessions_version"], len(canary["slices"])) == (50, 1, 1)
    first = page.locator('#canary-slices tr[data-slice="0"]')
    expect(first).to_have_attribute("data-to", "50")
    expect(first.locator("td.slice-marked")).to_have_text(str(canary["slices"][0]["sessions_marked"]))
    expect(page.locator("#guard-migrations_applied")).to_have_text(str(canary["guard"]["migrations_applied"]))
    expect(page.locator("#canary-guard")).to_have_attribute("data-tripped", "false")
    expect(page.locator("#canary")).to_contain_text("new sessions start on v1")
    expect(page.locator("#widen-percent")).to_have_attribute("min", "51")
    page.fill("#widen-percent", "100")
    page.click("#widen")
    expect(page.locator("#canary-percent-now")).to_have_text("100 %", timeout=budget.ms())
    expect(page.locator("#canary-slices tbody tr")).to_have_count(2)
    expect(page.locator("#widen-form")).to_be_hidden()
    expect(page.locator("#deployment-status")).to_have_text("deployed", timeout=budget.ms(120_000))
    expect(page.locator("#plan-status")).to_have_text("deployed", timeout=budget.ms())
    _, status = local.http("GET", path, tenant=tenant)
    assert status["status"] == "deployed" and status["canary"]["percent"] == 100
    slices = status["canary"]["slices"]
    assert [(s["from_percent"], s["to_percent"]) for s in slices] == [(0, 50), (50, 100)]
    assert sum(s["sessions_marked"] for s in slices) == status["sessions_marked"] == len(SESSIONS)
    second = page.locator('#canary-slices tr[data-slice="1"]')
    expect(second.locator("td.slice-marked")).to_have_text(str(slices[1]["sessions_marked"]))
    expect(page.locator("#sessions-marked")).to_have_text(str(len(SESSIONS)))


def test_dry_run_then_a_canary_widened_to_the_whole(local: Local, page: Any) -> None:
    budget = Budget(BUDGET_SECONDS)
    tenant = f"console-{uuid.uuid4().hex[:8]}"
    plan = seed(local, tenant)
    open_plan(page, local, tenant, plan, budget)
    dry_run(page, local, tenant, plan, budget)
    shoot(page, "console-dry-run", "#dry-run")
    approve(page, local, tenant, plan, budget)
    canary_then_widen(page, local, tenant, plan, budget)
    shoot(page, "console-canary", "#deployment")
    assert page.problems == [], page.problems


def test_sign_in_with_the_identity_provider_authorization_code_and_pkce(tmp_path: Path, page: Any) -> None:
    """Deployed sign-in, end to end against an identity provider on the loopback: the page
    redirects with an S256 challenge, comes back with a code, exchanges it with its verifier
    (the provider checks both), and calls the API with the ID token, which the local run's
    authorizer (LOCAL_AUTH=jwt) verifies as the deployed one would."""
    from playwright.sync_api import expect  # noqa: PLC0415

    key_file = tmp_path / "key.pem"
    key = auth.load_or_create(key_file)
    port = free_port()
    who = Identity(
        tenant=f"console-{uuid.uuid4().hex[:8]}", roles=["viewer", "operator"], email="ana@example.com"
    )
    with (
        FakeIdp(key, auth.local_settings(port), auth.AUDIENCE, who) as idp,
        running_local(
            tmp_path,
            port,
            LOCAL_AUTH="jwt",
            LOCAL_AUTH_KEY_FILE=str(key_file),
            CONSOLE_AUTHORIZATION_ENDPOINT=f"{idp.base}/authorize",
            CONSOLE_TOKEN_ENDPOINT=f"{idp.base}/token",
            CONSOLE_CLIENT_ID=auth.AUDIENCE,  # the authorizer accepts ID tokens of its audience
        ) as local,
    ):
        page.goto(f"{local.base}/console#/plans?status=pending")
        page.click("#sign-in")
        expect(page.locator("#current-principal")).to_have_text("ana@example.com")
        expect(page.locator("#identity")).to_contain_text(f"tenant {who.tenant} · viewer, operator")
        expect(page.locator("#plan-list")).to_contain_text("No plan matches")  # the API took the token
        assert page.url == f"{local.base}/console#/plans?status=pending"  # the code is gone from the URL
        assert len(who.exchanged) == 1 and not who.grants
        page.click("#sign-out")
        expect(page.locator("#sign-in")).to_be_visible()
    assert page.problems == [], page.problems


def test_local_jwt_mode_takes_a_pasted_token(tmp_path: Path, page: Any) -> None:
    """`LOCAL_AUTH=jwt make run` has no identity provider: the page says so and takes a token
    from `make token`; the API then answers as that token's tenant and roles."""
    from playwright.sync_api import expect  # noqa: PLC0415

    key_file = tmp_path / "key.pem"
    key = auth.load_or_create(key_file)
    port = free_port()
    tenant = f"console-{uuid.uuid4().hex[:8]}"
    token = key.token(auth.local_settings(port), tenant=tenant, roles=["viewer"], sub="vic")
    with running_local(tmp_path, port, LOCAL_AUTH="jwt", LOCAL_AUTH_KEY_FILE=str(key_file)) as local:
        page.goto(f"{local.base}/console")
        expect(page.locator("#token-form")).to_contain_text("make -s token TENANT=acme")
        page.fill("#token", "not a token")
        page.click("#use-token")
        expect(page.locator("#token-form .error")).to_contain_text("not a JWT")
        page.fill("#token", f"Bearer {token}")
        page.click("#use-token")
        expect(page.locator("#current-principal")).to_have_text("vic")
        expect(page.locator("#identity")).to_contain_text(f"tenant {tenant} · viewer")
        expect(page.locator("#plan-list")).to_contain_text("No plan matches")
    assert page.problems == [], page.problems


def test_reject_records_who_and_why(local: Local, page: Any) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    budget = Budget(BUDGET_SECONDS)
    tenant = f"console-{uuid.uuid4().hex[:8]}"
    plan = seed(local, tenant)
    open_plan(page, local, tenant, plan, budget)
    page.fill("#reject-reason", "moves Payment before Checkout")
    page.click("#reject")  # no name yet: the browser asks for it, nothing is sent
    expect(page.locator("#plan-status")).to_have_text("pending")
    page.fill("#approver", "rita@example.com")
    page.click("#reject")
    expect(page.locator("#plan-status")).to_have_text("rejected", timeout=budget.ms())
    expect(page.locator("#decision-record")).to_contain_text("Rejected by rita@example.com")
    expect(page.locator("#save-policies")).to_be_disabled()  # policies change only while pending
    page.click("#simulate")  # a rejected plan cannot be simulated: the API's 409 is shown
    expect(page.locator("#simulate-error")).to_contain_text("only a pending, approved or open plan")
    _, rejected = local.http("GET", f"/api/v1/migration-plans/{plan['id']}", tenant=tenant)
    assert (rejected["rejected_by"], rejected["rejection_reason"]) == (
        "rita@example.com",
        "moves Payment before Checkout",
    )
    refused = "Failed to load resource: the server responded with a status of 409 (Conflict)"
    assert page.problems == [refused], page.problems  # the simulate refused, nothing else

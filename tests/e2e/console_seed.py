"""A plan that shows everything the review console draws: scenario `shop` version 1 with live
sessions, and a version 2 whose plan has every classification (clean graft, gap fill, re-route),
an inserted age fork, a moved checkpoint (Payment before Checkout), an edited step (Shipping), a
deleted one (Survey), a changed fork on an existing step and one critical warning (a condition on
a field nothing can collect) that approval must acknowledge."""

from typing import Any

from tests.documents import AGE_FIELD, step

SCENARIO_ID = "shop"
CRITICAL_CODE = "uncollectable_field:confirm:0"


def _shop(version: int, steps: list[dict[str, Any]], fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": SCENARIO_ID,
        "name": "Shop",
        "version": version,
        "entry_step_id": "welcome",
        "fields": fields,
        "steps": steps,
    }


MENU = step(
    "menu",
    "Main Menu",
    ("browse", "intent == 'buy'", 1),
    ("support", "intent != 'buy'", 0),
    collects_fields=["intent"],
)
V1 = _shop(
    1,
    [
        step("welcome", "Welcome", "menu"),
        MENU,
        step("support", "Support", "ticket"),
        step("ticket", "Open Ticket", "done_support"),
        step("done_support", "Support Done"),
        step("browse", "Browse", "checkout"),
        step("checkout", "Checkout", "payment"),
        step("payment", "Payment", "shipping", is_checkpoint=True, performs_action=True),
        step("shipping", "Shipping", "confirm", description="Choose a carrier"),
        step("confirm", "Confirm", "survey"),
        step("survey", "Survey"),
    ],
    [],
)
V2 = _shop(
    2,
    [
        step("welcome", "Welcome", "menu"),
        MENU,
        step("support", "Support", "ask_email"),
        step("ask_email", "Ask Email", "ticket", collects_fields=["email"]),
        step("ticket", "Open Ticket", "done_support"),
        step("done_support", "Support Done"),
        step("browse", "Browse", "age_check"),
        step(
            "age_check",
            "Age Verification",
            ("rejection", "age < 18", 1),
            ("payment", "age >= 18", 0),
            collects_fields=["age"],
        ),
        step("rejection", "Rejection"),
        step("payment", "Payment", "checkout", is_checkpoint=True, performs_action=True),
        step("checkout", "Checkout", "shipping"),
        step("shipping", "Shipping", "confirm", description="Choose a carrier and a delivery slot"),
        step("confirm", "Confirm", ("thanks", "coupon_code != ''", 1), ("done", None, 0)),
        step("thanks", "Thanks For Using A Coupon"),
        step("done", "Done"),
    ],
    [AGE_FIELD, {"name": "email", "type": "email", "question": "What is your email?"}],
)
# session id -> (step, channel): every anchor but two has customers, one sits on the deleted step
SESSIONS = {
    "w1": ("welcome", "whatsapp"),
    "b1": ("browse", "whatsapp"),
    "b2": ("browse", "web"),
    "c1": ("checkout", "whatsapp"),
    "c2": ("checkout", "whatsapp"),
    "c3": ("checkout", "sms"),
    "t1": ("ticket", "whatsapp"),
    "s1": ("shipping", "whatsapp"),
    "v1": ("survey", "web"),
}


def session_report(step_id: str, channel: str) -> dict[str, Any]:
    return {
        "scenario_id": SCENARIO_ID,
        "scenario_version": 1,
        "current_step_id": step_id,
        "channel": channel,
        "status": "idle",
    }

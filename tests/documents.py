"""Scenario documents for the tests: builders, and the seed's order flow with its versions."""

import random
from typing import Any

AGE_FIELD = {
    "name": "age",
    "type": "integer",
    "question": "Before we continue, what is your age?",
    "extraction_hints": ["age", "years old"],
    "minimum": 0,
    "maximum": 130,
}


def step(step_id: str, name: str, *to: str | tuple | dict, **extra: Any) -> dict[str, Any]:
    """A step document; each exit is a target id, (target id, condition, priority) or a
    transition document."""
    transitions = [
        t
        if isinstance(t, dict)
        else {"to_step_id": t[0], "condition": t[1], "priority": t[2]}
        if isinstance(t, tuple)
        else {"to_step_id": t}
        for t in to
    ]
    return {"id": step_id, "name": name, "transitions": transitions, **extra}


def order_flow(
    version: int,
    steps: list[dict[str, Any]],
    scenario_id: str = "order-flow",
    fields: tuple[dict[str, Any], ...] = (AGE_FIELD,),
) -> dict[str, Any]:
    return {
        "id": scenario_id,
        "name": "Order Flow",
        "version": version,
        "entry_step_id": steps[0]["id"],
        "fields": list(fields),
        "steps": steps,
    }


V1 = order_flow(
    1,
    [
        step("welcome", "Welcome", "checkout"),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm"),
    ],
)
V1_PAYMENT = order_flow(
    1,
    [
        step("welcome", "Welcome", "checkout"),
        step("checkout", "Checkout", "payment"),
        step("payment", "Payment", "confirm", is_checkpoint=True, performs_action=True),
        step("confirm", "Confirm"),
    ],
)
V2_DOWNSTREAM = order_flow(
    2,
    [
        step("welcome", "Welcome", "checkout"),
        step("checkout", "Checkout", "payment"),
        step("payment", "Payment", "confirm"),
        step("confirm", "Confirm"),
    ],
)
V2_GAP = order_flow(
    2,
    [
        step("welcome", "Welcome", "age_check"),
        step("age_check", "Age Verification", "checkout", collects_fields=["age"]),
        step("checkout", "Checkout", "confirm"),
        step("confirm", "Confirm"),
    ],
)
# Welcome -> Age Verification, which sends minors to Rejection and the others to Checkout.
AGE_FORK = [
    step("welcome", "Welcome", "age_check"),
    step(
        "age_check",
        "Age Verification",
        ("rejection", "age < 18", 1),
        ("checkout", "age >= 18", 0),
        collects_fields=["age"],
    ),
    step("rejection", "Rejection"),
]
V2_FORK = order_flow(2, [*AGE_FORK, step("checkout", "Checkout", "confirm"), step("confirm", "Confirm")])
V2_FORK_PAYMENT = order_flow(2, [*AGE_FORK, *V1_PAYMENT["steps"][1:]])


def large_scenario(
    version: int, seed: int, steps: int = 3_000, scenario_id: str = "order-flow"
) -> dict[str, Any]:
    """A chain of `steps` steps with incompressible descriptions: about 430 KB compressed, so it is
    stored in two parts of at most 350 KB. Documents of different seeds differ in every part."""
    rng = random.Random(seed)
    chain = [
        step(
            f"s{i:05d}",
            f"Step {i}",
            *([f"s{i + 1:05d}"] if i + 1 < steps else []),
            description=rng.randbytes(112).hex(),
        )
        for i in range(steps)
    ]
    return order_flow(version, chain, scenario_id=scenario_id, fields=())


def _million_elements() -> str:
    """The issue's costly condition: six nested `map` over ten digits build 10^6 elements (20 s per
    evaluation) in 191 characters, well within the length limit."""
    digits, source = "[0,1,2,3,4,5,6,7,8,9]", "f"
    for variable in "fedcba":
        source = f"{digits}.map({variable}, {source})"
    return f"size({source}) > 0"


MILLION_ELEMENTS = _million_elements()


def report(step_id: str, version: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "scenario_id": extra.pop("scenario_id", "order-flow"),
        "scenario_version": version,
        "current_step_id": step_id,
        "channel": extra.pop("channel", "whatsapp"),
        "status": "idle",
        **extra,
    }

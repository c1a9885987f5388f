"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: `sam local invoke` without Docker.

The event goes to the running local run's Lambda Invoke endpoint (`make run`, same LOCAL_PORT),
through boto3 as the runtime invokes in AWS; the function's answer is printed as JSON on stdout.
FUNCTION may be left out when the event's file name says it (events/jit_apply.json:
JitApplyFunction), EVENT when the function has one sample event. Placeholders in the event
(upper-case words with an underscore, e.g. PLAN_ID) are filled from the environment variables of
the same name; one that is not set stops the invocation with a line saying what to give.
"""

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from local_run.template import ROOT, load_template
from scripts.local import BASE, lambda_client, require_local_run

EVENTS = ROOT / "events"
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
WHAT = {
    "PLAN_ID": "a plan's id (GET /api/v1/migration-plans lists them; make demo prints one)",
}


class Refused(Exception):
    """The request cannot be sent as given: the message says what to change."""


def event_file(name: str) -> Path:
    """EVENT as given: a path, or a sample's name (`jit_apply`, `jit_apply.json`)."""
    for candidate in (Path(name), ROOT / name, EVENTS / name, EVENTS / f"{name}.json"):
        if candidate.is_file():
            return candidate.resolve()
    raise Refused(f"EVENT={name}: no such file (the samples: {', '.join(samples())})")


def samples(function: str | None = None) -> list[str]:
    template = load_template()
    return [
        f"events/{path.name}"
        for path in sorted(EVENTS.glob("*.json"))
        if function is None or template.function_of_event(path) == function
    ]


def resolve(function: str | None, event: str | None) -> tuple[str, Path]:
    """The function and the event file, completing one from the other."""
    template = load_template()
    if function and function not in template.functions:
        raise Refused(
            f"FUNCTION={function}: no such function in template.yaml ({', '.join(template.functions)})"
        )
    if not event:
        found = samples(function) if function else []
        if len(found) != 1:
            choices = ", ".join(found or samples())
            raise Refused(
                f"name the event: make invoke FUNCTION={function or '<function>'} EVENT=<file> ({choices})"
            )
        event = found[0]
    path = event_file(event)
    function = function or template.function_of_event(path)
    if not function:
        raise Refused(
            f"name the function: make invoke FUNCTION=<one of {', '.join(template.functions)}> EVENT={event}"
        )
    return function, path


def fill(value: Any, environment: dict[str, str], missing: set[str]) -> Any:
    """Every placeholder in the event's strings replaced by its environment variable's value."""
    if isinstance(value, dict):
        return {fill(k, environment, missing): fill(v, environment, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, environment, missing) for v in value]
    if not isinstance(value, str):
        return value

    def replace(found: re.Match[str]) -> str:
        if found[0] in environment:
            return environment[found[0]]
        missing.add(found[0])
        return found[0]

    return PLACEHOLDER.sub(replace, value)


def load_event(path: Path, environment: dict[str, str]) -> Any:
    try:
        event = json.loads(path.read_text())
    except ValueError as exc:
        raise Refused(f"{path}: not JSON ({exc})") from None
    missing: set[str] = set()
    event = fill(event, environment, missing)
    if missing:
        needed = "; ".join(
            f"{name}: {WHAT.get(name, 'a value for this placeholder')}" for name in sorted(missing)
        )
        example = " ".join(f"{name}=..." for name in sorted(missing))
        raise Refused(f"{path.name} needs {needed}. Give it: {example} make invoke EVENT={path.name}")
    return event


def main() -> None:
    try:
        function, path = resolve(os.environ.get("FUNCTION") or None, os.environ.get("EVENT") or None)
        event = load_event(path, dict(os.environ))
    except Refused as refused:
        sys.exit(f"make invoke: {refused}")
    require_local_run("make invoke")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"Invoking {function} with {shown} on {BASE}", file=sys.stderr)
    response = lambda_client().invoke(FunctionName=function, Payload=json.dumps(event))
    payload = json.loads(response["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    if response.get("FunctionError"):
        sys.exit(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")


if __name__ == "__main__":
    main()

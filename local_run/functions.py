"""The template's functions, loaded lazily and invoked one at a time each, like one container."""

import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from local_run.template import ROOT, Template


@dataclass
class LambdaContext:
    """What handlers read of Lambda's context object (Powertools' Logger reads these)."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.invoked_function_arn = self.invoked_function_arn or arn

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class FunctionError(Exception):
    """The handler raised: carries Lambda's error payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload["errorMessage"])
        self.payload = payload


class Functions:
    def __init__(self, template: Template) -> None:
        for folder in ("shared", "functions"):  # as Lambda sees them: the layer, then the code
            if str(ROOT / folder) not in sys.path:
                sys.path.insert(0, str(ROOT / folder))
        self.handlers = dict(template.functions)
        self._locks = {name: threading.Lock() for name in self.handlers}
        self.invocations = dict.fromkeys(self.handlers, 0)

    def find(self, name: str) -> str | None:
        """A logical id, or an ARN / alias ending in one."""
        for candidate in (name, name.rsplit(":", maxsplit=1)[-1], *name.split(":")):
            if candidate in self.handlers:
                return candidate
        return None

    def invoke(self, name: str, event: Any) -> Any:
        module, _, attribute = self.handlers[name].rpartition(".")
        context = LambdaContext(name)
        with self._locks[name]:
            self.invocations[name] += 1
            try:
                handler = getattr(import_module(module), attribute)
                return handler(event, context)
            except Exception as exc:
                raise FunctionError(
                    {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_exception(exc),
                    }
                ) from exc

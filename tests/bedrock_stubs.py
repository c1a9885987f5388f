"""Amazon Bedrock as botocore's Stubber sees it: a client that never reaches AWS and the
Converse answers the extractor's tool returns (unit tests and the config-key tests share them)."""

from typing import Any

import boto3
from botocore.config import Config

from scenario_migration.adapters.bedrock import TOOL

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def converse_answer(tool_input: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    content = [{"text": text}] if text is not None else []
    if tool_input is not None:
        content.append({"toolUse": {"toolUseId": "tooluse-1", "name": TOOL, "input": tool_input}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if tool_input is not None else "end_turn",
        "usage": {"inputTokens": 200, "outputTokens": 20, "totalTokens": 220},
        "metrics": {"latencyMs": 300},
    }


def runtime_client(**config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(**config),
    )

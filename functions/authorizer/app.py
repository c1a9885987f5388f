"""API Gateway Lambda authorizer (TOKEN): verifies the caller's JWT, answers an IAM policy with
the tenant, roles and principal as context. The logic is in scenario_migration/auth/."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.auth import authorizer
from scenario_migration.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        answer = authorizer.authorize(event)
    except authorizer.Unauthorized as exc:
        logger.info(
            "token refused", extra={"method_arn": event.get("methodArn"), "reason": str(exc.__cause__)}
        )
        raise
    effect = answer["policyDocument"]["Statement"][0]["Effect"]
    logger.info("token accepted" if effect == "Allow" else "token denied", extra=answer.get("context"))
    return answer

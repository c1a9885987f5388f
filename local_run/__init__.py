"""The local run (`make run`): the real handlers behind an HTTP front, on an embedded AWS.

No Docker, no AWS account: moto serves DynamoDB and SQS with the tables and queues declared in
template.yaml; API events become API Gateway proxy events; a Lambda Invoke endpoint serves
direct invocations; SQS event sources and schedules are driven here.

The layer's code (shared/) joins sys.path as the package loads, as Lambda puts the layer on
every function's path: the local run's own modules use it too (auth.py: the authorizer's token
settings).
"""

import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[1] / "shared"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

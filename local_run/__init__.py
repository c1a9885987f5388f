"""The local run (`make run`): the real handlers behind an HTTP front, on an embedded AWS.

No Docker, no AWS account: moto serves DynamoDB and SQS with the tables and queues declared in
template.yaml; API events become API Gateway proxy events; a Lambda Invoke endpoint serves
direct invocations; SQS event sources and schedules are driven here.
"""

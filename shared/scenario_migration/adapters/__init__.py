"""Adapters to services other than DynamoDB and SQS (those live in store/)."""

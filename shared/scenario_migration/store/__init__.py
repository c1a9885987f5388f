"""The only code that talks to DynamoDB (see docs/data-model.md for the keys and indexes)."""

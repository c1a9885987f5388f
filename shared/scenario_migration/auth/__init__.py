"""Authentication: bearer tokens (JWT) verified by the API Gateway Lambda authorizer."""

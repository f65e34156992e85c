"""Reusable test helpers: loopback servers and the Gcore OpenAPI contract."""

"""Use cases: each ties the pure domain to the store. Handlers call these and nothing below."""

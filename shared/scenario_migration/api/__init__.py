"""HTTP concerns shared by the REST handlers: the resolver, the tenant header, error mapping."""

"""The HTTP edge: pydantic schemas, middlewares and thin handlers."""

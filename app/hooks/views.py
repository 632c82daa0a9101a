from app.hooks import bp  # noqa: F401

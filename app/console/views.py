from app.console import bp  # noqa: F401

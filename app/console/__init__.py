from flask import Blueprint

bp = Blueprint("console", __name__, template_folder="templates")

from app.console import views  # noqa: E402,F401  (registers the routes)

from flask import Blueprint

bp = Blueprint("hooks", __name__, template_folder="templates")

from app.hooks import views  # noqa: E402,F401  (registers the routes)

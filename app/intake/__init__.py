from flask import Blueprint

bp = Blueprint("intake", __name__, template_folder="templates")

from app.intake import views  # noqa: E402,F401  (registers the routes)

from flask import Blueprint

from app.console import refuse_nul_characters

bp = Blueprint("hooks", __name__, template_folder="templates")
# A signed webhook with a NUL in From, MessageSid, MessageStatus or ErrorCode reached a query and was a 500 on
# PostgreSQL (which refuses such text); the console's rule refuses it with 400 before anything reads it.
bp.before_request(refuse_nul_characters)

from app.hooks import views  # noqa: E402,F401  (registers the routes)

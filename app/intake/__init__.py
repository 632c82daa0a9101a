"""The reporter's pages: home, submitting a tip, the receipt, and coming back with the receipt code."""

from flask import Blueprint
from flask.sansio.blueprints import BlueprintSetupState

bp = Blueprint("intake", __name__, template_folder="templates")


@bp.record_once
def _use_intake_request_class(state: BlueprintSetupState) -> None:
    # Uploaded photos stay in memory (never in a temporary file with their metadata) and a form body that is
    # not valid UTF-8 is refused rather than silently "repaired": see app/intake/requests.py.
    from app.intake.requests import IntakeRequest

    state.app.request_class = IntakeRequest  # type: ignore[attr-defined]


from app.intake import errors, followup, views  # noqa: E402,F401  (registers the routes and error pages)

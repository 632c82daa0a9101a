"""A flood of anonymous page views cannot hold up writers: no reporter page renders inside a transaction."""

from __future__ import annotations

from tests.intake.helpers import open_followup, submit_ok
from tests.support.write_lock import rendering_holding_the_lock


def test_reporter_pages_render_without_the_write_lock(intake_app, schools):
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone brought a knife to school today.")
    with rendering_holding_the_lock(intake_app) as held:
        for path in ("/", "/report", "/receipt", "/done", "/followup", "/report?lang=es"):
            assert client.get(path).status_code == 200, path
        assert "Someone brought" not in open_followup(intake_app.test_client(), code).get_data(as_text=True)
    assert held == []

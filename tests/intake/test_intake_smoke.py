from tests.intake.helpers import open_followup, submit_ok


def test_submit_and_follow_up(intake_app, schools):
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "Someone said they will bring a knife tomorrow.")
    assert len(ref) == 6 and len(code) == 24
    page = open_followup(client, code.lower().replace("-", " ")).get_data(as_text=True)
    assert ref in page and "Received" in page

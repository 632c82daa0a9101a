"""Each app's SMS go through a Twilio client made from that app's settings (app/alerts/sms.py, sms_transport)."""

from app.alerts.sms import EXTENSION_KEY, sms_transport
from tests.alerts.conftest import twilio_settings
from tests.fakes.fake_twilio import FakeTwilio

PHONE = "+13075550111"


def test_a_new_app_whose_transport_has_an_ended_apps_identity_gets_a_client_of_its_own(make_app, fake_twilio):
    """The per-thread clients were kept in one table per thread keyed by id() of the app's shared transport. When
    an app ended, the next app's transport could be given the same id, and that app was handed the old app's client:
    its settings and its open keep-alive connection. On CI a test's alert went to the fake Twilio of a test before
    (still answering on that connection), past the faults the test had scripted on its own. Here the second app is
    given the first one's transport object itself, which is what a reused id amounted to."""
    first = make_app(**twilio_settings(fake_twilio))
    with first.app_context():
        sms_transport().send(PHONE, "first app", status_callback=None)
    fake_twilio.wait_for(1)
    with FakeTwilio() as other_fake:
        second = make_app(**twilio_settings(other_fake))
        second.extensions[EXTENSION_KEY] = first.extensions[EXTENSION_KEY]
        with second.app_context():
            sms_transport().send(PHONE, "second app", status_callback=None)
        assert [m.body for m in other_fake.wait_for(1)] == ["second app"]
    assert [m.body for m in fake_twilio.messages] == ["first app"]  # nothing of the second app went to the first


def test_a_transport_the_app_was_given_that_is_not_twilios_is_the_one_used(make_app):
    """Only a Twilio transport is made again per thread (its HTTP session). Any other one the app holds is used as it
    is: the escalation property test gives the app a RecordingTransport and scripts failed sends on it, and every
    send went instead through a console transport made from the settings, its failures never happening."""
    from notifications import RecordingTransport

    app = make_app(SMS_TRANSPORT="console")
    recording = RecordingTransport()
    app.extensions[EXTENSION_KEY] = recording
    with app.app_context():
        assert sms_transport() is recording

"""The console's forms. Every POST form carries a CSRF token (CSRFProtect is global); filter forms are GET."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.accounts.phones import normalise_e164
from app.models import Outcome, Role, TipStatus
from app.small_ints import MAX_DIGITS
from triage import CATEGORIES, URGENCIES

ROLE_CHOICES = [(r.value, r.value.replace("_", " ")) for r in Role]
CATEGORY_CHOICES = [(c, c.replace("_", " ")) for c in CATEGORIES]
URGENCY_CHOICES = [(u, u) for u in reversed(URGENCIES)]
STATUS_CHOICES = [(s.value, s.value) for s in TipStatus]
# WTForms fills in max and length; "%%" keeps them for it once the noun is in.
TOO_LONG = "Please shorten the %s to %%(max)d characters or fewer (it has %%(length)d)."
OUTCOME_CHOICES = [("", "(choose when closing)")] + [(o.value, o.value.replace("_", " ")) for o in Outcome]


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes, each with its label. A <select multiple> dropped every other
    choice on a plain click, so an admin adding a school to someone took them off the schools they had."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def e164_phone(_form: FlaskForm, field: StringField) -> None:
    """WTForms validator: the one phone check (app/accounts/phones.py); stores the number in E.164."""
    try:
        field.data = normalise_e164(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def as_choices(pairs: list[tuple[str, str]] | list[tuple[int, str]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms' option objects (plain tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    submit = SubmitField("Continue")


class SecondFactorForm(FlaskForm):
    # A number pad for the six digits (the phone offers the code from an SMS or the authenticator above it); a
    # recovery code has letters, which a number pad cannot type, so it has its own page (second_factor.html).
    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Sign in")


class EnrolForm(FlaskForm):
    password = PasswordField("New password (12 characters or more)", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again", validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "new-password"})
    code = StringField("Code shown by your authenticator app", validators=[DataRequired(), Length(max=10)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Finish set-up")


class ChangePasswordForm(FlaskForm):
    # Password boxes are never filled in again when the page comes back with an error (WTForms' default).
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "current-password"})
    password = PasswordField("New password (12 characters or more)", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again", validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Change password")


class ConfirmForm(FlaskForm):
    """A button and a CSRF token: acknowledge, sign out, sign out everywhere, deactivate."""

    submit = SubmitField("Confirm")


class ResetForm(ConfirmForm):
    """"Reset sign-in". The page it answers shows the new enrolment link: a reload of that page (or Back and on)
    sends the form again, and a second reset would stop the link just given from working."""

    enrolment_was = HiddenField()  # service.enrolment_marker of the person when the page was made


# The case page holds several of the forms below: their fields have ids of their own (a label names its box by
# id, and two boxes called "body" made the note's label name the message box).


class LabelForm(FlaskForm):
    category = SelectField("Category", choices=as_choices(CATEGORY_CHOICES))
    urgency = SelectField("Urgency", choices=as_choices(URGENCY_CHOICES))
    # "<category> <urgency>" as the page showed them: the form sends both, so a correction of one made on a
    # page someone else's correction has outdated would put the other back to what it was. Refused instead.
    labels_was = HiddenField()
    submit = SubmitField("Save correction", id="label-submit")


class StatusForm(FlaskForm):
    status = SelectField("Status", choices=as_choices(STATUS_CHOICES), id="new-status")
    outcome = SelectField("Outcome", choices=as_choices(OUTCOME_CHOICES), validators=[Optional()])
    # The status the page showed: a choice made on a page someone else's change has outdated is refused.
    status_was = HiddenField()
    submit = SubmitField("Change status", id="status-submit")


class CloseIncidentForm(FlaskForm):
    """Closing the open tips of an incident together (app/console/incident_close.py): the outcome is chosen, never a
    default, and the tips are the ones the confirmation showed, each with what it was then (`close_marker`)."""

    outcome = SelectField("Outcome for every tip", id="incident-outcome",
                          choices=as_choices([("", "(choose an outcome)")] + OUTCOME_CHOICES[1:]))
    tips_was = HiddenField(validators=[Length(max=200_000)])
    submit = SubmitField("Close these tips", id="close-incident-submit")


class AssignForm(FlaskForm):
    counselor = SelectField("Counselor", coerce=int)
    # The counselor the page showed (0: nobody): a choice made on a page someone else's assignment has outdated
    # would take the case from the counselor given it meanwhile. Refused instead, as the status.
    counselor_was = HiddenField()
    submit = SubmitField("Assign", id="assign-submit")


class NoteForm(FlaskForm):
    # No maxlength in the page (render_kw): the browser cut a longer paste without a word. The server's check
    # answers instead, with the text kept in the box (app/console/case_actions.py).
    body = TextAreaField("Internal note (never shown to the reporter)", id="note-body", render_kw={"maxlength": False},
                         validators=[DataRequired(), Length(max=5000, message=TOO_LONG % "note")])
    note_after = HiddenField()  # the newest note when the page was made: see MessageForm.message_after
    submit = SubmitField("Add note", id="note-submit")


class MessageForm(FlaskForm):
    template = SelectField("Ready-made question", validators=[Optional()], id="message-template")
    body = TextAreaField("Or write your own message", id="message-body", render_kw={"maxlength": False},
                         validators=[Optional(), Length(max=2000, message=TOO_LONG % "message")])
    # The newest message's id when the page was made: the same text sent again from that page (a second tap on
    # a slow phone, Back and send again) is recognised as already sent instead of reaching the reporter twice.
    message_after = HiddenField()
    submit = SubmitField("Send to reporter", id="message-submit")


class HoldForm(FlaskForm):
    # "body", as a note's: a reason sent after the session ended or to a busy database comes back to copy.
    body = TextAreaField("Reason for the legal hold (e.g. police case number, subpoena, lawsuit)", id="hold-body",
                         render_kw={"maxlength": False},
                         validators=[DataRequired(message="Give the reason for the legal hold."),
                                     Length(max=500, message=TOO_LONG % "reason")])
    # The hold the page showed ("none", or when it was set): a hold set or released meanwhile refuses the form.
    hold_was = HiddenField()
    submit = SubmitField("Put on legal hold", id="hold-submit")


class ReleaseHoldForm(FlaskForm):
    body = TextAreaField("Reason for releasing the hold", id="release-body", render_kw={"maxlength": False},
                         validators=[DataRequired(message="Give the reason for releasing the hold."),
                                     Length(max=500, message=TOO_LONG % "reason")])
    hold_was = HiddenField()
    submit = SubmitField("Release the legal hold", id="release-submit")


class LinkForm(FlaskForm):
    other_ref = StringField("Reference of a related tip", validators=[DataRequired(), Length(max=12)])
    submit = SubmitField("Link as the same incident", id="link-submit")


class UnlinkForm(FlaskForm):
    # The incident the page showed, with the other tips in it (case.incident_marker): a tip linked to more, or to
    # others, since the page was opened is not taken out of an incident it did not show. Refused instead.
    incident_was = HiddenField()
    submit = SubmitField("Take this tip out of the incident", id="unlink-submit")


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", choices=as_choices(ROLE_CHOICES))
    phone = StringField("Mobile phone for SMS alerts, e.g. (307) 555-0123", validators=[Optional(), e164_phone])
    schools = CheckboxesField("Schools", coerce=int)
    submit = SubmitField("Create account and show the enrolment link")


class StaffEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", choices=as_choices(ROLE_CHOICES))
    phone = StringField("Mobile phone for SMS alerts", validators=[Optional(), e164_phone])
    schools = CheckboxesField("Schools", coerce=int)
    active = BooleanField("Active (unticking signs the person out everywhere)")
    access_was = HiddenField()  # admin.access_marker of the person when the page was made
    submit = SubmitField("Save")


class EmailChangeForm(FlaskForm):
    """A person's sign-in email, corrected by a district admin (its own form: the password and authenticator stay)."""

    email = EmailField("Sign-in email", validators=[DataRequired(message="Enter the person's email address."),
                                                    Length(max=254, message="Up to 254 characters.")])
    email_was = HiddenField()  # the email the page showed: two corrections of one typo do not undo each other
    submit = SubmitField("Change sign-in email", id="email-submit")


CLOCK = "Write the time as HH:MM on a 24-hour clock, e.g. 07:30 or 15:15."


class SchoolForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    # Optional: a page from before the field saves without it, keeping the short name.
    short_name = StringField("Short name, as SMS name the school (up to 12 letters or digits, e.g. KWHS)",
                             validators=[Optional(), Length(max=12, message="Up to 12 characters.")])
    town = StringField("Town", validators=[DataRequired(), Length(max=100)])
    # H:MM too, as `flask schools create` takes it; refused, "Invalid input." said neither what nor how.
    day_start = StringField("School day starts (HH:MM, local time)",
                            validators=[DataRequired(), Regexp(r"^\s*[0-2]?[0-9]:[0-5][0-9]\s*$", message=CLOCK)])
    day_end = StringField("School day ends (HH:MM)",
                          validators=[DataRequired(), Regexp(r"^\s*[0-2]?[0-9]:[0-5][0-9]\s*$", message=CLOCK)])
    # Optional: a page from before the field saves without it, keeping the zone.
    timezone = StringField("Time zone of its school day (e.g. America/Denver, America/Chicago)",
                           validators=[Optional(), Length(max=64)])
    active = BooleanField("Active")
    school_was = HiddenField()  # admin.school_marker of the school when the page was made
    submit = SubmitField("Save school")


class AgencyForm(FlaskForm):
    """An agency's names (a police department, a sheriff's office): required and unique, as at `add-agency`."""

    name = StringField("Name, e.g. Casper Police Department", validators=[
        DataRequired(message="Enter the agency's name."), Length(max=200, message="Up to 200 characters.")])
    short_name = StringField("Short name, e.g. CPD (what `flask schools create --agency` takes)", validators=[
        DataRequired(message="Enter the agency's short name."), Length(max=20, message="Up to 20 characters.")])
    agency_was = HiddenField()  # agencies.agency_marker of the agency when the page was made
    submit = SubmitField("Save agency")


class ChainForm(FlaskForm):
    """One select per chain position; filled in by the view with the school's assigned people."""

    chain_was = HiddenField()  # admin.chain_marker of the school when the page was made
    submit = SubmitField("Save escalation chain")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    action = StringField("Action", validators=[Optional(), Length(max=64)])
    actor = StringField("Who (email)", validators=[Optional(), Length(max=254)])
    tip_ref = StringField("Tip reference", validators=[Optional(), Length(max=12)])
    # At most 9 digits: a bigger offset overflows the database's integers (a 500, not a page).
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1, max=10**MAX_DIGITS - 1)])

"""Checking what a reporter sent. Messages say what to do; the text itself is never altered."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict

from app.intake.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, CleanPhoto, PhotoRejected, clean_photo
from app.small_ints import parse_small_int

MIN_TEXT = 10
MAX_TEXT = 10_000
MAX_CONTACT = 1_000
MAX_NAME_SHOWN = 80  # of a refused file's name, in the message
HAPPENING_NOW = {"yes": True, "no": False, "unsure": None}


@dataclass
class Checked:
    """The values to store, or the errors to show (field id -> message), in form order."""

    values: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    photos: list[CleanPhoto] = field(default_factory=list)


def typed_length(text: str) -> int:
    """The length as the reporter sees it (and a browser counts it): a line break is one character, sent as CRLF,
    so counting the CRLF as two would refuse a text of 10,000 characters as too long."""
    return len(text) - text.count("\r\n")


def check_text(checked: Checked, name: str, text: str, required: bool = True) -> None:
    if "\x00" in text:
        checked.errors[name] = _("The text contains a NUL character, which cannot be stored. Please remove it.")
    elif required and len(text.strip()) < MIN_TEXT:
        checked.errors[name] = _("Please describe what is happening in at least %(n)d characters.", n=MIN_TEXT)
    elif typed_length(text) > MAX_TEXT:
        checked.errors[name] = _("Please shorten the text to %(n)s characters or fewer (it has %(has)s).",
                                 n=f"{MAX_TEXT:,}", has=f"{typed_length(text):,}")
    checked.values[name] = text


def check_photos(checked: Checked, files: MultiDict[str, FileStorage]) -> None:
    uploads = [f for f in files.getlist("photos") if f.filename]
    if len(uploads) > MAX_PHOTOS:
        checked.errors["photos"] = _("You can add up to %(n)d photos.", n=MAX_PHOTOS)
        return
    for upload in uploads:
        data = upload.read(MAX_PHOTO_BYTES + 1)
        try:
            checked.photos.append(clean_photo(data))
        except PhotoRejected as exc:
            # Named (shown back to the reporter only, never stored or logged): among three, which one? The
            # others are not kept either, and the form cannot keep them.
            message = photo_message(exc.reason)
            if len(uploads) > 1:
                message += " " + photos_again_message()
            checked.errors["photos"] = f"{str(upload.filename)[:MAX_NAME_SHOWN]}: {message}"
            checked.photos.clear()
            return


def photos_again_message() -> str:
    return _("Photos are not kept when the form comes back: please choose your photos again.")


def photos_left_behind(form: ImmutableMultiDict[str, str]) -> dict[str, str]:
    """The errors of a form sent on without its files (the language button): it has only their names, so the
    photo field asks for them again."""
    return {"photos": photos_again_message()} if any(form.getlist("photos")) else {}


def ask_for_photos_again(checked: Checked, files: MultiDict[str, FileStorage]) -> None:
    """A form shown again cannot hold the files chosen (no browser lets a page fill a file input): said nothing,
    the reporter fixes the text, sends, and the photos are lost."""
    if checked.errors and "photos" not in checked.errors and any(f.filename for f in files.getlist("photos")):
        checked.errors["photos"] = photos_again_message()


def photo_message(reason: str) -> str:
    accepted = _("Photos must be JPEG, PNG or WebP images of up to 10 MB each.")
    if reason == "too_big":
        return _("A photo is larger than 10 MB.") + " " + accepted
    if reason == "heic":
        # The reporter knows it is a photo (the phone just took it): say what is wrong and the way round it.
        return _("This photo is in the HEIC format of iPhones and some other phones, which we cannot open. Please "
                 "take a screenshot of the photo and add the screenshot instead.") + " " + accepted
    if reason == "damaged":
        # The reporter has a JPEG under 10 MB in hand: what is accepted does not help, the way round it does.
        return _("This photo could not be read: the file is damaged or incomplete. If the photo shows on your phone, "
                 "take a screenshot of it and add the screenshot instead.")
    if reason == "too_many_pixels":
        return _("A photo has too many pixels to be processed safely.") + " " + accepted
    return _("A file is not a photo we can accept.") + " " + accepted


def check_report(form: ImmutableMultiDict[str, str], files: MultiDict[str, FileStorage],
                 school_ids: set[int]) -> Checked:
    checked = Checked()
    raw_school = form.get("school", "")
    school_id = parse_small_int(raw_school)
    if school_id is None or school_id not in school_ids:
        checked.errors["school"] = _("Choose the school this is about.")
    checked.values["school"] = school_id
    check_text(checked, "description", form.get("description", ""))
    answer = form.get("happening_now", "")
    if answer and answer not in HAPPENING_NOW:
        checked.errors["happening_now"] = _("Choose yes, no or not sure, or leave it empty.")
    checked.values["happening_now"] = HAPPENING_NOW.get(answer)
    checked.values["happening_now_answer"] = answer
    contact = form.get("contact", "")
    if "\x00" in contact:
        checked.errors["contact"] = _("The text contains a NUL character, which cannot be stored. Please remove it.")
    elif typed_length(contact) > MAX_CONTACT:
        checked.errors["contact"] = _("Contact details can be up to %(n)s characters.", n=f"{MAX_CONTACT:,}")
    checked.values["contact"] = contact
    check_photos(checked, files)
    ask_for_photos_again(checked, files)
    return checked

"""District admins: staff accounts (invite, edit, deactivate, reset), schools and their escalation chains."""

from __future__ import annotations

import hashlib
import json
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from app import audit
from app.accounts import service
from app.alerts import sms_checks
from app.alerts.escalation import numbers_failing_for_good
from app.alerts.planning import db_replan_school_day_alerts, next_in_chain
from app.alerts.signals import wake_dispatcher
from app.console import bp, clock
from app.console.access import admin_required, me
from app.console.case import counselors_of
from app.console.forms import (
    ChainForm,
    ConfirmForm,
    EmailChangeForm,
    InviteForm,
    ResetForm,
    SchoolForm,
    StaffEditForm,
    as_choices,
)
from app.extensions import db, db_take_turns_on
from app.models import Assignment, ChainPosition, Role, School, Staff, Tip, TipStatus
from app.models.directory import twenty_four_hour_hint, zone_without_summer_time
from app.small_ints import parse_small_int
from app.transactions import commit_before_rendering


def _school_choices() -> list[tuple[int, str]]:
    return [(s.id, f"{s.short_name}: {s.name}") for s in db.session.scalars(select(School).order_by(School.name))]


@bp.get("/admin/")
@admin_required
def admin_home() -> Response:
    return redirect(url_for("console.admin_staff"))


@bp.route("/admin/staff", methods=["GET", "POST"])
@admin_required
def admin_staff() -> str:
    form = InviteForm()
    form.schools.choices = as_choices(_school_choices())
    link: str | None = None
    created = False
    if form.validate_on_submit():
        schools = [s for s in (db.session.get(School, i) for i in form.schools.data or []) if s is not None]
        try:
            staff = service.db_create_staff(str(form.email.data), str(form.name.data), Role(form.role.data),
                                            schools, phone=form.phone.data or None)
        except service.AccountError as exc:
            flash(str(exc), "error")
        else:
            link = service.enrolment_link(service.db_new_enrolment(staff, clock.now()))
            audit.record("staff.invited", actor=me(), target_id=staff.id, target=staff.email, role=staff.role.value,
                         school_ids=[s.id for s in schools])
            created = True
            form = InviteForm(formdata=None)
            form.schools.choices = as_choices(_school_choices())
    people = list(db.session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.name).options(
        selectinload(Staff.assignments).selectinload(Assignment.school))))
    # The invitation is committed with the page read: read after its commit, a database refusing in that instant
    # answered "nothing was saved" about an account created, and its link, shown only here, was lost.
    commit_before_rendering()
    if created:
        # No email or name in the flash: flashes travel in the (readable) session cookie.
        flash("Account created. Give them the enrolment link below in person or by a channel you trust; "
              "it works once, for 3 days.", "info")
    return render_template("console/admin_staff.html", form=form, people=people, link=link)


@bp.route("/admin/staff/<row_id:staff_id>", methods=["GET", "POST"])
@admin_required
def admin_staff_edit(staff_id: int) -> str | Response:
    # A save locks the person's row and reads it afresh, as a school's does: of two saves at once the second waits
    # and is checked against what the first made.
    saving = request.method == "POST"
    person = db.session.get(Staff, staff_id, with_for_update=service.ACCOUNT_ROW_LOCK if saving else None,
                            populate_existing=saving) or abort(404)
    form = _staff_form_as_now(person) if request.method == "GET" else StaffEditForm()
    form.schools.choices = as_choices(_school_choices())
    valid = form.validate_on_submit()
    if valid and outdated(form.access_was.data, access_marker(person)):
        # Sent from a page someone's change has outdated: its "Active" still ticked would make a person deactivated
        # meanwhile active again (their password still works), its role give back one taken away. (An empty
        # marker: a page from before this field, saved as before.)
        flash("This person's role, schools or active state changed since this page was opened: nothing was saved. "
              "The page shows them as they are now; make your change again.", "error")
        return redirect(url_for("console.admin_staff_edit", staff_id=person.id))
    if valid and _leaves_no_admin(person, form):
        flash("This is the last active district admin: nobody would be left to manage staff, schools and chains or "
              "to read the audit record. Make someone else a district admin first, and let them finish enrolling.",
              "error")
    elif valid and Role(form.role.data) != Role.DISTRICT_ADMIN and not form.schools.data:
        # As an invitation: with no school the person sees no tip and is on no escalation chain.
        form.schools.errors = ["Staff other than district admins need at least one school."]
    elif valid and (twice := _phone_twice_on_a_chain(person, form)):
        # Beside the phone, the form as typed: nothing is saved.
        form.phone.errors = twice
    elif valid:
        before = _access_of(person)
        places = [(a.school, a.chain_position) for a in person.assignments if a.chain_position is not None]
        reachable = person.can_get_sms
        counselled = [a.school for a in person.assignments] if _counsels(person) else []
        changed = _apply_staff_edit(person, form)
        # Their rows locked before the audit chain's lock, as every action on a case locks its tip first: taken
        # after it, a case acted on at that moment waited for this save and this save for it (a deadlock).
        leaving = _db_cases_left(person)
        if changed:
            # What someone may see is on the record as it was and as it became, not only that it changed.
            after = _access_of(person)
            audit.record("staff.updated", actor=me(), target_id=person.id, target=person.email, changed=changed,
                         before={k: v for k, v in before.items() if v != after[k]},
                         after={k: v for k, v in after.items() if v != before[k]})
        released = _db_release_cases_left(person, leaving)
        # Everything the answer says is read before the commit, which expires what was loaded: read after it, a
        # database refusing in that instant answered "nothing was saved" about a change that was saved.
        said = [("Saved." if changed else "Nothing changed.", "info")]
        said += [left for school, position in places
                 if (left := _chain_place_left(person, school, position, was_reachable=reachable)) is not None]
        said += [_no_counselor_left(school) for school in counselled
                 if not (_counsels(person) and school.id in person.school_ids) and not counselors_of(school.id)]
        if released:
            one = released == 1
            said.append((f"{released} open case{'' if one else 's'} assigned to this person {'is' if one else 'are'} "
                         f"now assigned to nobody: the queue lists {'it' if one else 'them'} under 'Assigned to "
                         "nobody'.", "info"))
        back = redirect(url_for("console.admin_staff_edit", staff_id=staff_id))
        db.session.commit()
        for message, category in said:
            flash(message, category)
        return back
    return staff_page(person, form)


def staff_page(person: Staff, form: StaffEditForm | None = None, *, email_form: EmailChangeForm | None = None,
               link: str | None = None, news: str | None = None) -> str:
    """The person's page: `form` and `email_form` as sent when refused, else as the person is now; `link`, a new
    enrolment link to show once; `news`, flashed once the commit is made (what it says is then true)."""
    if email_form is None:
        email_form = EmailChangeForm(formdata=None, email=person.email, email_was=person.email)
    page = dict(form=form or _staff_form_as_now(person), email_form=email_form, person=person,
                reset_form=_reset_form(person), link=link, deactivated_no_reset=DEACTIVATED_NO_RESET)
    commit_before_rendering()
    if news:
        flash(news, "info")
    return render_template("console/admin_staff_edit.html", **page)


def _staff_form_as_now(person: Staff) -> StaffEditForm:
    """The person's page as they are now, with the marker of their access it shows."""
    form = StaffEditForm(obj=person)
    form.schools.choices = as_choices(_school_choices())
    form.role.data = person.role.value
    form.schools.data = sorted(person.school_ids)
    form.access_was.data = access_marker(person)
    return form


def _phone_twice_on_a_chain(person: Staff, form: StaffEditForm) -> list[str]:
    """A new phone that someone else on a chain this person keeps a place of already has: the chain would text
    that phone twice, the second time to whoever did not answer the first, and nobody new would be told. The
    chain's own save refuses two accounts of one phone (admin_school_chain); a phone changed afterwards did not.
    The phone kept as it is (an account shared before that rule) is no reason to refuse other changes."""
    phone = form.phone.data or None
    if phone is None or phone == person.phone:
        return []
    kept = sorted(set(form.schools.data or []) & person.school_ids)
    if not kept:
        return []
    # The chains are read with their schools' rows locked, as a chain's save locks its school's: a chain saved
    # at the same moment (this person or the other put on it) waits for this save, or this one for it.
    db.session.execute(select(School.id).where(School.id.in_(kept)).order_by(School.id)
                       .with_for_update(key_share=True))  # SCHOOL_ROW_LOCK
    mine = {school_id: position for school_id, position in db.session.execute(
        select(Assignment.school_id, Assignment.chain_position).where(
            Assignment.staff_id == person.id, Assignment.school_id.in_(kept))) if position is not None}
    if not mine:
        return []
    others = db.session.execute(
        select(Assignment.school_id, School.name, Staff.name, Assignment.chain_position)
        .join(Staff, Staff.id == Assignment.staff_id).join(School, School.id == Assignment.school_id)
        .where(Assignment.school_id.in_(sorted(mine)), Assignment.chain_position.isnot(None),
               Staff.phone == phone, Staff.id != person.id)
        .order_by(School.name, Assignment.chain_position)).all()
    return [f"{other} has this phone and is {chain_place(position)} of the escalation chain of {school}, "
            f"where this person is {chain_place(mine[school_id])}: an urgent tip's SMS would go to that phone "
            "again and nobody new would be told. Give this person another phone, or first take one of the two off "
            "that chain (the school's page, Schools)." for school_id, school, other, position in others
            if position is not None]


def _reset_form(person: Staff) -> ResetForm:
    return ResetForm(formdata=None, enrolment_was=service.enrolment_marker(person))


def _leaves_no_admin(person: Staff, form: StaffEditForm) -> bool:
    """Whether the edit would take away the district's last active district admin (demoted or deactivated). Only
    an admin who has enrolled counts as another: one invited but not enrolled (the link expired, or never reached
    them) cannot sign in, and would leave the district with nobody in the console."""
    if person.role != Role.DISTRICT_ADMIN or not person.active:
        return False
    if Role(form.role.data) == Role.DISTRICT_ADMIN and form.active.data:
        return False
    # Two admins taking each other away at once: each save locks only its own person's row, so on PostgreSQL both
    # would count the other as still there. Such saves take turns; the second counts after the first has saved.
    db_take_turns_on("district admins")
    others = db.session.scalar(select(func.count(Staff.id)).where(
        Staff.role == Role.DISTRICT_ADMIN, Staff.active.is_(True), Staff.id != person.id,
        Staff.password_hash.isnot(None), Staff.totp_secret_sealed.isnot(None))) or 0
    return others == 0


def _access_of(person: Staff) -> dict[str, Any]:
    return {"role": person.role.value, "school_ids": sorted(person.school_ids), "active": bool(person.active)}


def state_marker(state: Any) -> str:
    """What an admin form carries, hidden, of the row as its page showed it (the fields the form edits): a short
    digest, so that a save from a page another admin's change (or another tab's) has outdated is told apart."""
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def outdated(sent: str | None, marker: str) -> bool:
    """The form was sent from a page that showed something else than what is there now, and is refused: saving it
    would silently undo that change. A form without a marker (a page from before the field, a script) saves."""
    return bool(sent) and sent != marker


def access_marker(person: Staff) -> str:
    """What the staff edit form carries of the person's access (role, schools, active)."""
    return state_marker(_access_of(person))


def _apply_staff_edit(person: Staff, form: StaffEditForm) -> list[str]:
    changed: list[str] = []
    role = Role(form.role.data)
    for attribute, value in (("name", str(form.name.data).strip()), ("role", role),
                             ("phone", form.phone.data or None)):
        if getattr(person, attribute) != value:
            setattr(person, attribute, value)
            changed.append(attribute)
    active = bool(form.active.data)
    if person.active != active:
        person.active = active
        changed.append("active")
        if not active:
            service.db_sign_out_everywhere(person)  # a deactivated account's open sessions end now
    wanted = set(form.schools.data or [])
    current = {a.school_id: a for a in person.assignments}
    for school_id, assignment in current.items():
        if school_id not in wanted:
            person.assignments.remove(assignment)  # its chain position goes with it
    for school_id in wanted - set(current):
        person.assignments.append(Assignment(school_id=school_id))
    if wanted != set(current):
        changed.append("schools")
    return changed


def _chain_place_left(person: Staff, school: School, position: int, *, was_reachable: bool) -> tuple[str, str] | None:
    """A person taken off a school, or made unreachable (deactivated, phone removed), leaves their place of its
    escalation chain to no one: the admin who moved the primary SRO to another school was told 'Saved.' while that
    school's urgent tips reached no one."""
    place = chain_place(position)
    was = f"This person was {place} of the escalation chain of {school.name}"
    nobody_left = next_in_chain(school.id, 0) is None
    # No name or email of the person: flashes travel in the (readable) session cookie; a school's name is public.
    if school.id not in person.school_ids:
        then = "and urgent tips of {} reach no one" if nobody_left else "and the rest of its chain is told instead"
        message = f"{was}; that place is empty now, {then.format(school.name)}"
    elif was_reachable and not person.can_get_sms:
        then = "urgent tips of {} reach no one" if nobody_left else "the rest of its chain is told instead"
        message = f"{was} and can no longer be sent an SMS; {then.format(school.name)}"
    else:
        return None
    if nobody_left:
        return f"{message} until its chain is set.", "error"
    return f"{message}: fill the place on the school's page (Schools).", "info"


def _counsels(person: Staff) -> bool:
    return bool(person.active and person.role == Role.COUNSELOR)


def _no_counselor_left(school: School) -> tuple[str, str]:
    """The last counselor of a school left (deactivated, moved, another role): its cases could be given to nobody,
    the case's Counselor list offering only "(nobody)", and nothing said so."""
    return (f"{school.name} has no counselor now: its cases can be assigned to nobody until one is. Invite one "
            "(Staff), or add the school to a counselor's schools.", "error")


def _db_cases_left(person: Staff) -> list[Tip]:
    """Cases not closed that are assigned to a person who can no longer work them (deactivated, or taken off the
    case's school), their rows locked (the person's edit applied, not committed)."""
    if person.active and person.role == Role.DISTRICT_ADMIN:
        return []  # sees every school, with or without assignments
    query = select(Tip).where(Tip.assigned_counselor_id == person.id, Tip.status != TipStatus.CLOSED.value)
    if person.active:
        query = query.where(Tip.school_id.notin_(sorted(person.school_ids)))
    return list(db.session.scalars(query.order_by(Tip.id).with_for_update(key_share=True)))


def _db_release_cases_left(person: Staff, tips: list[Tip]) -> int:
    """The cases left (`_db_cases_left`) go back to nobody, each on the audit record: left with them, no one could
    sign in to work them and the queue's "Assigned to nobody" did not list them. A closed case keeps its counselor,
    as a record."""
    for tip in tips:
        tip.assigned_counselor_id = None
        audit.record("tip.assigned", actor=me(), tip=tip, counselor_id=None,
                     reason="staff_deactivated" if not person.active else "staff_left_school")
    return len(tips)


DEACTIVATED_NO_RESET = ("This account is deactivated, so an enrolment link would not open. To let the person back in, "
                        "tick Active and save, then reset their sign-in.")


@bp.post("/admin/staff/<row_id:staff_id>/reset")
@admin_required
def admin_staff_reset(staff_id: int) -> str | Response:
    """A lost phone or password: clear both factors and issue a new enrolment link."""
    person = db.session.get(Staff, staff_id) or abort(404)
    form = ResetForm()
    if not form.validate_on_submit():
        abort(400)
    if not person.active:
        # The enrolment link of a deactivated account opens nothing ("This enrolment link does not work"), and the
        # person's password and authenticator would be gone: refused, as `flask staff reset-signin` refuses it.
        flash(DEACTIVATED_NO_RESET + " Nothing was reset.", "error")
        return redirect(url_for("console.admin_staff_edit", staff_id=person.id))
    if outdated(form.enrolment_was.data, service.enrolment_marker(person)) \
            and service.has_live_enrolment(person, clock.now()):
        # The form sent again (a reload of the page that gave the link, Back and on), or a second admin's reset
        # meanwhile: resetting again would stop the link just given from working.
        flash("The sign-in was reset since this page was opened (a reload or Back sends the form again): nothing "
              "was reset, and the enrolment link given then still works. If it was lost, press the button again "
              "for a new one.", "error")
        return redirect(url_for("console.admin_staff_edit", staff_id=person.id))
    link = service.enrolment_link(service.db_reset_sign_in(person, clock.now()))
    audit.record("staff.reset", actor=me(), target_id=person.id, target=person.email)
    # Committed with the page read (staff_page): the new link is shown only here, and a database refusing just
    # after a plain commit answered "nothing was saved" about a reset that was made.
    return staff_page(person, link=link,
                      news="Sign-in reset: the person's sessions ended; give them the new enrolment link.")


@bp.get("/admin/schools")
@admin_required
def admin_schools() -> str:
    schools = list(db.session.scalars(select(School).order_by(School.name).options(
        selectinload(School.agency), selectinload(School.assignments).selectinload(Assignment.staff))))
    failing = numbers_failing_for_good({a.staff_id for s in schools for a in s.assignments if a.chain_position})
    commit_before_rendering()
    return render_template("console/admin_schools.html", schools=schools, positions=list(ChainPosition),
                           failing=failing)


def _parse_time(value: str) -> time:
    hours, minutes = (int(part) for part in value.strip().split(":"))
    return time(hours, minutes)


# FOR NO KEY UPDATE: a second admin's save of the school or its chain waits, a reporter's tip for it does not.
SCHOOL_ROW_LOCK = {"key_share": True}


def _school_or_404(school_id: int, *, for_update: bool = False) -> School:
    """The school; `for_update` (a save) locks its row until the transaction ends and reads it afresh, as a case's
    tip (scope.get_visible_tip): what the page showed is checked against the school as it is, and a second admin's
    save meanwhile waits for this one, then finds it changed (PostgreSQL; SQLite lets one writer in at a time)."""
    school = db.session.get(School, school_id, with_for_update=SCHOOL_ROW_LOCK if for_update else None,
                            populate_existing=for_update)
    return school or abort(404)


def school_marker(school: School) -> str:
    """What the school form carries of the school as its page showed it (the fields it edits): its "Active" still
    ticked on a page opened before the school was deactivated would let reporters choose it again."""
    return state_marker(_school_fields(school))


def _school_fields(school: School) -> dict[str, Any]:
    """The fields the school's page edits, as it shows them."""
    return {"name": school.name, "short_name": school.short_name, "town": school.town,
            "day_start": school.day_start.strftime("%H:%M"), "day_end": school.day_end.strftime("%H:%M"),
            "timezone": school.timezone, "active": bool(school.active)}


def _taken_by_another(school: School, column: Any, value: str) -> bool:
    return db.session.scalar(select(School.id).where(func.lower(column) == value.lower(), School.id != school.id)
                             .limit(1)) is not None


def _known_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def chain_marker(school: School) -> str:
    """What the chain form carries of the chain as its page showed it: who holds which position, in order. The form
    sets the whole chain, so a page opened before someone was put on or taken off it would undo that."""
    return state_marker(sorted([a.chain_position, a.staff_id] for a in school.assignments
                               if a.chain_position is not None))


# The fields that say when the school is in session: medium tips' SMS wait for it.
HOURS_FIELDS = frozenset({"day_start", "day_end", "timezone"})

CHANGED_MEANWHILE = ("This {} was changed by someone else since you opened this page. Nothing was saved; here it is "
                     "as it is now.")


@bp.route("/admin/schools/<row_id:school_id>", methods=["GET", "POST"])
@admin_required
def admin_school_edit(school_id: int) -> str | Response:
    school = _school_or_404(school_id, for_update=request.method == "POST")
    form = _school_form_as_now(school) if request.method == "GET" else SchoolForm()
    if form.validate_on_submit():
        if outdated(form.school_was.data, school_marker(school)):
            flash(CHANGED_MEANWHILE.format("school"), "error")
            return redirect(url_for("console.admin_school_edit", school_id=school.id))
        try:
            start, end = _parse_time(str(form.day_start.data)), _parse_time(str(form.day_end.data))
        except ValueError:
            flash("Times are written HH:MM, e.g. 07:30.", "error")
        else:
            zone = str(form.timezone.data or "").strip() or school.timezone
            short_name = str(form.short_name.data or "").strip().upper() or school.short_name
            name = str(form.name.data).strip()
            if _taken_by_another(school, School.short_name, short_name):
                form.short_name.errors = [f"Another school has the short name {short_name}."]
                return _school_page(form, school)
            if _taken_by_another(school, School.name, name):
                # Reporters choose their school by name: two alike would send tips to the wrong one.
                form.name.errors = ["Another school has this name: reporters would not tell the two apart."]
                return _school_page(form, school)
            if start >= end:
                # Never in session: medium tips would wait for a start of day at odd hours, or for nothing.
                form.day_end.errors = [f"The school day must end after it starts ({start:%H:%M})"
                                       f"{twenty_four_hour_hint(start, end)}."]
                return _school_page(form, school)
            if not _known_timezone(zone):
                form.timezone.errors = ["Not a time zone this server knows: write its IANA name, such as "
                                        "America/Denver, America/Chicago, America/Los_Angeles or America/New_York."]
                return _school_page(form, school)
            if (why := zone_without_summer_time(zone)) is not None:
                form.timezone.errors = [why]
                return _school_page(form, school)
            before = _school_fields(school)
            school.name, school.short_name, school.town = name, short_name, str(form.town.data).strip()
            school.day_start, school.day_end, school.active = start, end, bool(form.active.data)
            school.timezone = zone
            after = _school_fields(school)
            changed = sorted(k for k in after if after[k] != before[k])
            replanned = None
            if HOURS_FIELDS.intersection(changed):
                # A medium tip's SMS waits for the start of the school day the old hours or zone said: it would go
                # out an hour or more off, or in the night. Re-planned with the change, in its transaction.
                replanned = db_replan_school_day_alerts(school, clock.now())
            if changed:
                extra: dict[str, Any] = {} if replanned is None else {"replanned_alerts": replanned}
                audit.record("school.updated", actor=me(), school_id=school.id, changed=changed,
                             before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, **extra)
            # Nothing after the commit reads the database (the school's id is the address's): a refusal in that
            # instant answered "nothing was saved" about a school saved.
            back = redirect(url_for("console.admin_school_edit", school_id=school_id))
            db.session.commit()
            if replanned:
                wake_dispatcher()  # some may be due now
                one = replanned == 1
                flash(f"School saved. {replanned} alert{'' if one else 's'} waiting for the school day "
                      f"{'goes' if one else 'go'} out at the start of the day the new hours and time zone say "
                      "(at once when the school is in session now).", "info")
            else:
                flash("School saved.", "info")
            return back
    return _school_page(form, school)


def _school_form_as_now(school: School) -> SchoolForm:
    """The school's form as the school is now, with the marker of what it shows."""
    form = SchoolForm(formdata=None, obj=school)
    form.day_start.data = school.day_start.strftime("%H:%M")
    form.day_end.data = school.day_end.strftime("%H:%M")
    form.school_was.data = school_marker(school)
    return form


def chain_place(position: int) -> str:
    """A place of a chain as the page names it: "1 (primary SRO)"."""
    return f"{position} ({ChainPosition(position).name.replace('_', ' ').lower().replace('sro', 'SRO')})"


def _school_page(form: SchoolForm, school: School, *, chain_chosen: dict[int, int] | None = None,
                 chain_errors: dict[int, str] | None = None) -> str:
    """The school's page; `chain_chosen` (position -> staff id): the chain's choices to show instead of the chain
    as it is (a chain form refused), `chain_errors` (position -> message) what to say beside which place."""
    assignments = sorted(school.assignments, key=lambda a: a.staff.name)
    chain_form = ChainForm(formdata=None, chain_was=chain_marker(school))
    if chain_chosen is None:
        chain_chosen = {int(a.chain_position): a.staff_id for a in school.assignments if a.chain_position is not None}
    checks = [(check, sms_checks.describe(check)) for check in sms_checks.recent_checks(school.id)]
    commit_before_rendering()
    return render_template("console/admin_school_edit.html", form=form, school=school, chain_form=chain_form,
                           positions=list(ChainPosition), assignments=assignments, test_form=ConfirmForm(),
                           checks=checks, chain_chosen=chain_chosen, chain_errors=chain_errors or {})


@bp.post("/admin/schools/<row_id:school_id>/test-sms")
@admin_required
def admin_school_test_sms(school_id: int) -> Response:
    """Send a test SMS to someone of the school: the row is written here, the alert worker sends it (never this
    request) and its delivery report shows on the school's page. Its text is fixed and about no tip."""
    school = _school_or_404(school_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    back = redirect(url_for("console.admin_school_edit", school_id=school.id, _anchor="test-sms"))
    staff_id = parse_small_int(request.form.get("staff_id"))
    person = db.session.get(Staff, staff_id) if staff_id is not None else None
    if person is None:
        flash("Choose the person to send the test SMS to; nothing was sent.", "error")
        return back
    # No name or email in the flashes: they travel in the (readable) session cookie.
    if (why := sms_checks.refusal(person, school)) is not None:
        flash(why, "error")
        return back
    sms_checks.db_request_check(person, school, me())
    audit.record("sms.test_requested", actor=me(), school_id=school.id, target_id=person.id, target=person.email)
    db.session.commit()
    wake_dispatcher()
    flash("Test SMS queued: the alert worker sends it within seconds. Reload this page to see whether it reached "
          "the phone.", "info")
    return back


@bp.post("/admin/schools/<row_id:school_id>/chain")
@admin_required
def admin_school_chain(school_id: int) -> str | Response:
    school = _school_or_404(school_id, for_update=True)
    form = ChainForm()
    if not form.validate_on_submit():
        abort(400)
    if outdated(form.chain_was.data, chain_marker(school)):
        # Who is woken for a critical tip: a person put on the chain meanwhile would be dropped, one taken off put
        # back, without a word.
        flash(CHANGED_MEANWHILE.format("escalation chain"), "error")
        return redirect(url_for("console.admin_school_edit", school_id=school.id))
    by_staff = {a.staff_id: a for a in school.assignments}
    chosen: dict[int, int] = {}
    twice: dict[int, str] = {}  # position -> why it is refused
    for chain_position in ChainPosition:
        staff_id = parse_small_int(request.form.get(f"position_{chain_position.value}"))
        if staff_id is not None and staff_id in by_staff:
            earlier = next((p for p, s in chosen.items() if s == staff_id), None)
            phone = by_staff[staff_id].staff.phone
            # Two accounts of one phone (a dispatch desk's day and night accounts): escalating from one to the other
            # texted the same phone again, another timeout before anyone new was told.
            same_phone = next((p for p, s in chosen.items() if phone and by_staff[s].staff.phone == phone), None)
            if earlier is not None:
                twice[chain_position.value] = (
                    f"{by_staff[staff_id].staff.name} is chosen for {chain_place(earlier)} too: one person holds "
                    "one place of the chain. Choose someone else here, or nobody.")
            elif same_phone is not None:
                twice[chain_position.value] = (
                    f"{by_staff[staff_id].staff.name} has the same phone as {by_staff[chosen[same_phone]].staff.name}"
                    f", {chain_place(same_phone)}: the SMS would go to that phone again and nobody new would be "
                    "told. Choose someone with another phone here, or nobody.")
            chosen[chain_position.value] = staff_id
    if twice:
        # The page comes back with every choice made, and says beside the place who is chosen twice: sent back to
        # the chain as it was, the admin had to choose them all again with only a line at the top to go by.
        return _school_page(_school_form_as_now(school), school, chain_chosen=chosen, chain_errors=twice)
    for assignment in school.assignments:
        assignment.chain_position = None
    db.session.flush()  # free every position first: (school, position) is unique
    for position, staff_id in chosen.items():
        by_staff[staff_id].chain_position = position
    audit.record("school.chain_updated", actor=me(), school_id=school.id,
                 chain={str(p): s for p, s in chosen.items()})
    db.session.commit()  # nothing after it reads the database: the school's id is the address's
    flash("Escalation chain saved.", "info")
    return redirect(url_for("console.admin_school_edit", school_id=school_id))

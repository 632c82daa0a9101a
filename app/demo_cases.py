"""Demo cases for `make run`: invented tips about the demo district, so that the queue, a case and the quarterly
analysis have something to show on the first visit.

Each tip goes the way a real one does where it matters: the trained model ranks it (its category, urgency and
reasons are the model's, not written here), and its text, messages and notes are sealed under its own key. Its
history (acknowledged by the school's first SRO, messages, notes, closing) is written as it would have happened,
at times in the past; only the newest, still "new", get their alerts planned as intake plans them. Loaded only
into a database with no tip at all, so that it never mixes with real reports and a second run adds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app

import triage
from app.alerts import db_plan_alerts_for_new_tip
from app.alerts.planning import db_alert_route
from app.crypto.service import db_add_sealed
from app.extensions import db
from app.intake.submit import NewTip, TriageUnavailable, db_new_sealed_tip, triage_model
from app.models import Alert, AlertStatus, Message, Note, School, Staff, Tip, TipStatus, utcnow


@dataclass(frozen=True)
class DemoCase:
    school: str  # short name
    hours_ago: float
    text: str
    status: str = TipStatus.NEW.value
    outcome: str | None = None
    happening_now: bool | None = None
    counselor: str | None = None  # email of the counselor assigned
    # (minutes after the tip, from the reporter?, text); staff messages are by the SRO who acknowledged
    messages: tuple[tuple[int, bool, str], ...] = ()
    notes: tuple[tuple[int, str], ...] = ()
    reply_unread: bool = False  # the reporter's last message not yet read by staff
    show_code: bool = False  # its receipt code goes to instance/demo_reports.txt, to try the follow-up page


DAY = 24.0
DEMO_CASES = [
    DemoCase("KWHS", 200 * DAY + 3, "there's a group chat where some juniors are posting pics of a freshman girl "
             "from the locker room and saying they'll send them to the whole school unless she pays them",
             status="closed", outcome="referred_to_law_enforcement",
             notes=((40, "Spoke with the student and her mother. Screenshots preserved; CPD detective assigned."),)),
    DemoCase("NCHS", 170 * DAY + 6, "Someone is selling vapes and edibles in the C wing bathroom during 4th "
             "period. Everyone knows about it, it's been going on for weeks.",
             status="closed", outcome="discipline"),
    DemoCase("CYMS", 150 * DAY + 2, "A boy in my son's class keeps pushing him off the bus seat and took his "
             "phone twice this week. The driver has not done anything. Please help, my son doesn't want to go to "
             "school anymore.", status="closed", outcome="parent_contacted"),
    DemoCase("RHS", 120 * DAY + 9, "my friend just posted on her story 'i cant do this anymore, goodbye everyone' "
             "and she's not answering her phone. i'm scared", status="closed", outcome="counselling_provided",
             happening_now=True,
             notes=((25, "Welfare check done by CPD at 23:50; student safe with family. Counselor follow-up "
                         "Monday."),)),
    DemoCase("DMMS", 100 * DAY + 4, "Mi hija dice que un niño de su clase trajo una navaja a la escuela y se la "
             "enseñó en el recreo. Por favor revisen, ella tiene miedo.", status="closed", outcome="discipline"),
    DemoCase("EVES", 90 * DAY + 1, "A kid told my daughter he would bring his dad's gun to school tomorrow. I "
             "think he was joking but I'm not sure and I'd rather you know.",
             status="closed", outcome="unfounded",
             notes=((50, "Met with the student and his parents; no access to firearms, said it as a joke. "
                         "Discussed with him why it is not one."),)),
    DemoCase("KWHS", 75 * DAY + 5, "lol this chem test is literally killing me, someone please end my suffering",
             status="closed", outcome="no_action_needed"),
    DemoCase("MES", 60 * DAY + 7, "A teacher keeps messaging a 7th grader on Snapchat late at night and told her "
             "not to tell anyone about it. She showed me the messages.",
             status="closed", outcome="referred_to_law_enforcement"),
    DemoCase("NCHS", 12 * DAY + 2, "Two seniors keep saying they're going to jump a sophomore after the game on "
             "Friday. They picked the parking lot by the stadium and are telling people to come watch.",
             status="investigating",
             messages=((30, False, "Thank you. Do you know the sophomore's name or grade?"),
                       (200, True, "hes in 10th grade, he plays in the band. i dont want to say names"),
                       (215, False, "That helps. We will be at the game. You can add anything here at any "
                                    "time.")),
             notes=((220, "Extra officer at Friday's game; band director informed."),)),
    DemoCase("PIC", 6 * DAY + 3, "mi amiga no come casi nada desde hace semanas y se corta los brazos, lo escondió "
             "con mangas largas. no sabe que les estoy escribiendo, por favor no le digan que fui yo",
             status="investigating", counselor="p.oconnor@ncsd.example", reply_unread=True, show_code=True,
             messages=((45, False, "Gracias por avisarnos. No vamos a decir quién escribió. ¿Sabes si alguien en "
                                   "su casa sabe lo que está pasando?"),
                       (300, True, "creo que su mamá no sabe nada")),
             notes=((320, "Counselor meeting set for tomorrow first period; parent contact after."),)),
    DemoCase("CCA", 3 * DAY + 1, "Some kids are calling a new student slurs every day at lunch and posting memes "
             "about him in a group chat. He eats alone in the library now.", status="acknowledged"),
    DemoCase("KWHS", 2 * DAY + 4, "I think my friend is being hurt at home, she had bruises on her arms again "
             "and said her stepdad gets really mad when he drinks", status="acknowledged",
             counselor="l.mendez@ncsd.example", show_code=True,
             messages=((60, False, "Thank you for telling us. Is your friend safe at school today? Is there "
                                   "anything else you can tell us?"),)),
    DemoCase("BNES", 0.2, "The crossing guard at the corner of the school wasn't there this morning and the little "
             "kids were crossing on their own"),
    DemoCase("VJES", 0.1, "A 5th grader brought a vape to school and was showing it to other kids in the bathroom "
             "at recess"),
]


@dataclass
class _Seeded:
    tips: int = 0
    codes: list[str] = field(default_factory=list)


def seed_demo_cases() -> str:
    """Load the demo cases into a database that has no tip yet; returns a one-line summary."""
    if db.session.query(Tip.id).first() is not None:
        return "demo cases: none added (the database already has tips)"
    schools = {s.short_name: s for s in db.session.query(School)}
    staff = {s.email: s for s in db.session.query(Staff)}
    seeded = _Seeded()
    now = utcnow()
    try:
        for case in DEMO_CASES:
            # The model itself, not intake's `assess`: demo cases ranked "critical, unavailable" would show nothing.
            assessment = triage_model().assess(case.text, happening_now=case.happening_now)
            _add(case, schools[case.school], staff, now, assessment, seeded)
    except TriageUnavailable as exc:
        db.session.rollback()
        return f"demo cases: none added. {exc} Then run this again."  # the message says how to train it
    db.session.commit()
    if seeded.codes:
        _write_codes(seeded.codes)
    return f"demo cases: {seeded.tips} tips added"


def _add(case: DemoCase, school: School, staff: dict[str, Staff], now: datetime, assessment: triage.Assessment,
         seeded: _Seeded) -> None:
    created = now - timedelta(hours=case.hours_ago)
    tip, code = db_new_sealed_tip(NewTip(school_id=school.id, text=case.text, happening_now=case.happening_now,
                                         contact="", photos=[], language="en"), assessment)
    tip.created_at = tip.updated_at = created
    route = db_alert_route(school.id)
    if case.status == TipStatus.NEW.value:
        with db.session.no_autoflush:
            db_plan_alerts_for_new_tip(tip, route)  # as intake does: an SMS, or a wait for the school day
        db.session.add(tip)
        db.session.flush()
    else:
        db.session.add(tip)
        db.session.flush()
        _history(tip, case, route.first, staff, created)
    seeded.tips += 1
    if case.show_code:
        seeded.codes.append(f"{tip.ref}  {code}  ({school.name}, {case.status})")


def _history(tip: Tip, case: DemoCase, first: tuple[int, int] | None, staff: dict[str, Staff],
             created: datetime) -> None:
    """What staff did with a case that is no longer new: the SMS and its acknowledgement, messages, notes."""
    sro_id = first[1] if first else None
    tip.status = case.status
    tip.acknowledged_at, tip.acknowledged_by_id = created + timedelta(minutes=4), sro_id
    if case.counselor:
        tip.assigned_counselor_id = staff[case.counselor].id
    if first is not None and tip.urgency in ("critical", "high", "medium"):
        sent = created + timedelta(seconds=3)
        db.session.add(Alert(tip_id=tip.id, staff_id=sro_id, chain_position=first[0], kind="initial",
                             status=AlertStatus.ACKNOWLEDGED.value, due_at=created, created_at=created, attempts=1,
                             sent_at=sent, delivered_at=sent + timedelta(seconds=4),
                             acknowledged_at=tip.acknowledged_at))
    last = created
    for i, (minutes, from_reporter, text) in enumerate(case.messages):
        at = created + timedelta(minutes=minutes)
        # Read by the other side when it answered; the reporter's last one unread by staff if the case says so.
        answers = [created + timedelta(minutes=m) for m, by_reporter, _ in case.messages[i + 1:]
                   if by_reporter != from_reporter]
        unread = not answers and (not from_reporter or case.reply_unread)
        message = Message(tip_id=tip.id, from_reporter=from_reporter, created_at=at,
                          staff_id=None if from_reporter else sro_id,
                          read_at=None if unread else (answers[0] if answers else at + timedelta(minutes=10)))
        db_add_sealed(tip, message, "message", text.encode("utf-8"))
        if from_reporter:
            tip.reporter_replied_at, tip.reporter_reply_unread = at, unread
        last = max(last, at)
    for minutes, text in case.notes:
        author = staff[case.counselor].id if case.counselor else sro_id
        if author is not None:
            db_add_sealed(tip, Note(tip_id=tip.id, staff_id=author, created_at=created + timedelta(minutes=minutes)),
                          "note", text.encode("utf-8"))
    if case.outcome:
        tip.outcome, tip.closed_at = case.outcome, created + timedelta(days=2)
        last = tip.closed_at
    tip.updated_at = last


def demo_reports_path() -> Path:
    return Path(current_app.instance_path) / "demo_reports.txt"


def _write_codes(lines: list[str]) -> None:
    """Replace the file: the cases go only into a database with no tip, so codes written before open nothing."""
    fd = os.open(demo_reports_path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{line}\n" for line in lines))

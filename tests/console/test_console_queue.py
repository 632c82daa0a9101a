"""The queue: most urgent first, then oldest; filters; overdue, reply and incident markers; scope."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.extensions import db
from app.models import Incident, Tip, utcnow
from tests.console.helpers import World, audit_actions
from tests.support.forms import without_csrf_tokens
from tests.support.tips import make_tip
from tests.support.write_lock import rendering_holding_the_lock


def _refs(page: str) -> list[str]:
    return re.findall(r'data-ref="([0-9A-Z]+)"', page)


def test_most_urgent_first_then_oldest(world: World, signed_in) -> None:
    now = utcnow()
    with world.app.app_context():
        low = make_tip(world.school_a, urgency="low", created_at=now - timedelta(hours=5)).ref
        high_new = make_tip(world.school_a, urgency="high", created_at=now - timedelta(minutes=1)).ref
        high_old = make_tip(world.school_a, urgency="high", created_at=now - timedelta(hours=2)).ref
        critical = make_tip(world.school_a, urgency="critical", created_at=now).ref
    page = signed_in("sro_a").get("/console/").get_data(as_text=True)
    assert _refs(page) == [critical, high_old, high_new, low]


def test_queue_shows_only_the_persons_schools(world: World, signed_in) -> None:
    with world.app.app_context():
        mine, theirs = make_tip(world.school_a).ref, make_tip(world.school_b).ref
    assert _refs(signed_in("counselor_a").get("/console/").get_data(as_text=True)) == [mine]
    page = signed_in("counselor_a").get(f"/console/?school={world.school_b}").get_data(as_text=True)
    assert theirs not in page
    assert set(_refs(signed_in("admin").get("/console/").get_data(as_text=True))) == {mine, theirs}


def test_filters(world: World, signed_in) -> None:
    with world.app.app_context():
        weapon = make_tip(world.school_a, category="weapon", urgency="high").ref
        bullying = make_tip(world.school_a, category="bullying", urgency="low").ref
        closed = make_tip(world.school_a, category="bullying", urgency="low")
        closed.status = "closed"
        db.session.commit()
        closed_ref = closed.ref
    client = signed_in("sro_a")
    assert _refs(client.get("/console/?category=weapon").get_data(as_text=True)) == [weapon]
    assert _refs(client.get("/console/?urgency=low").get_data(as_text=True)) == [bullying]
    assert _refs(client.get("/console/?status=closed").get_data(as_text=True)) == [closed_ref]
    assert closed_ref not in client.get("/console/").get_data(as_text=True)


def test_a_counselor_finds_the_cases_assigned_to_her(world: World, signed_in) -> None:
    """The SRO assigns cases to a counselor; the queue neither showed whose a case was nor could be filtered by
    it, so a counselor with twenty cases a week opened every tip of her schools to find hers."""
    with world.app.app_context():
        mine, nobodys = make_tip(world.school_a, urgency="low"), make_tip(world.school_a, urgency="high")
        mine.assigned_counselor_id = world.people["counselor_a"]
        db.session.commit()
        mine_ref, nobodys_ref = mine.ref, nobodys.ref
    client = signed_in("counselor_a")
    page = client.get("/console/?assigned=me").get_data(as_text=True)
    assert _refs(page) == [mine_ref] and "Assigned to you" in page
    assert re.search(r'<option value="me" selected>', page)
    assert _refs(client.get("/console/?assigned=nobody").get_data(as_text=True)) == [nobodys_ref]
    assert _refs(client.get("/console/").get_data(as_text=True)) == [nobodys_ref, mine_ref]


def test_a_tip_opens_by_its_reference_as_read_out_on_the_phone(world: World, signed_in) -> None:
    """A dispatcher reads a reference out on the phone ("k zero q one m five"); the queue had no way to type it,
    so staff edited the address bar. It is read as an SMS "ACK" is (case, spaces, O for 0, I and L for 1); a
    reference of another school's tip gets the same answer as one that does not exist, and what was typed stays."""
    with world.app.app_context():
        mine, theirs = make_tip(world.school_a), make_tip(world.school_b)
        mine.ref, theirs.ref = "K0Q1M5", "Z0Z1Z2"
        db.session.commit()
    client = signed_in("counselor_a")
    response = client.get("/console/?ref=k o q l m 5")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/tips/K0Q1M5")
    assert "tip.viewed" not in audit_actions(world.app, "K0Q1M5")  # found, not opened: the case page audits that
    unknown = client.get("/console/?ref=Z0Z1Z2")
    absent = client.get("/console/?ref=Z0Z1Z3")
    assert unknown.status_code == absent.status_code == 200
    page = unknown.get_data(as_text=True)
    assert "No tip Z0Z1Z2 among your schools&#39; tips" in page and 'value="Z0Z1Z2"' in page
    # Word for word, but for the forms' CSRF tokens, which carry the second they were signed in.
    assert without_csrf_tokens(absent.get_data(as_text=True).replace("Z0Z1Z3", "Z0Z1Z2")) == \
        without_csrf_tokens(page)
    assert 'aria-describedby="f-ref-error"' in page
    short = client.get("/console/?ref=7KQ").get_data(as_text=True)
    assert "6 letters and digits" in short and 'value="7KQ"' in short
    assert signed_in("admin").get("/console/?ref=z0z1z2").headers["Location"].endswith("/console/tips/Z0Z1Z2")


def test_overdue_when_not_acknowledged_in_time(world: World, signed_in) -> None:
    now = utcnow()
    with world.app.app_context():
        late = make_tip(world.school_a, urgency="critical", created_at=now - timedelta(minutes=6)).ref
        fresh = make_tip(world.school_a, urgency="critical", created_at=now - timedelta(minutes=1)).ref
    page = signed_in("sro_a").get("/console/").get_data(as_text=True)
    rows = {ref: row for ref, row in re.findall(r'data-ref="([0-9A-Z]+)">(.*?)</tr>', page, re.S)}
    assert "OVERDUE" in rows[late] and "OVERDUE" not in rows[fresh]


def test_related_tips_are_grouped(world: World, signed_in) -> None:
    now = utcnow()
    with world.app.app_context():
        incident = Incident(school_id=world.school_a, category="weapon")
        db.session.add(incident)
        db.session.flush()
        first = make_tip(world.school_a, urgency="critical", incident_id=incident.id, created_at=now).ref
        make_tip(world.school_a, urgency="high", created_at=now - timedelta(hours=1))
        second = make_tip(world.school_a, urgency="low", incident_id=incident.id, created_at=now).ref
    page = signed_in("sro_a").get("/console/").get_data(as_text=True)
    refs = _refs(page)
    assert refs[:2] == [first, second] and "2 related tips" in page


def test_queue_never_decrypts(world: World, signed_in, monkeypatch) -> None:
    with world.app.app_context():
        make_tip(world.school_a, contact="call me", photo=b"\x89PNG\r\n\x1a\n")
    client = signed_in("sro_a")
    calls: list[str] = []

    def refuse(*args: object, **kwargs: object) -> bytes:
        calls.append("decrypt")
        raise AssertionError("the queue opened a tip")

    # Every opening of anything (a data key, a field, a sealed receipt) ends in AES-GCM's decrypt: patching
    # it catches the queue whatever name a caller imported.
    monkeypatch.setattr(AESGCM, "decrypt", refuse)
    for query in ("", "?status=all", f"?school={world.school_a}"):
        assert client.get(f"/console/{query}").status_code == 200
    assert calls == []


def test_the_decryption_guard_sees_a_case_being_opened(world: World, signed_in, monkeypatch) -> None:
    # The guard above must be able to fail: the case page does decrypt, and the same patch catches it.
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    client = signed_in("sro_a")
    calls: list[str] = []
    original = AESGCM.decrypt

    def spy(self: AESGCM, *args: object, **kwargs: object) -> bytes:
        calls.append("decrypt")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AESGCM, "decrypt", spy)
    assert client.get(f"/console/tips/{ref}").status_code == 200
    assert calls


@pytest.mark.parametrize("query", ["page=²", "page=" + "9" * 20, "school=²", "school=" + "1" * 20, "incident=³",
                                   "incident=" + str(10**20), "page=-1", "page=١"])
def test_odd_numbers_in_the_query_are_ignored_not_a_500(world: World, signed_in, query: str) -> None:
    with world.app.app_context():
        ref = make_tip(world.school_a).ref
    response = signed_in("sro_a").get(f"/console/?{query}")
    assert response.status_code == 200
    assert _refs(response.get_data(as_text=True)) == [ref]  # treated as absent: the filter is simply not set


def test_queue_renders_without_the_write_lock(world: World, signed_in) -> None:
    with world.app.app_context():
        incident = Incident(school_id=world.school_a, category="weapon")
        db.session.add(incident)
        db.session.flush()
        make_tip(world.school_a, incident_id=incident.id)
        make_tip(world.school_a, incident_id=incident.id)
    client = signed_in("admin")
    with rendering_holding_the_lock(world.app) as held:
        assert client.get("/console/").status_code == 200
        assert client.get("/console/?status=all&page=1").status_code == 200
    assert held == []


def test_pagination(world: World, signed_in) -> None:
    now = utcnow()
    with world.app.app_context():
        for i in range(55):
            db.session.add(Tip(ref=f"P{i:04d}", school_id=world.school_a, receipt_hash=f"{i:064d}", category="other",
                               urgency="low", urgency_rank=0, confidence=0.5, model_version="t",
                               created_at=now - timedelta(minutes=i)))
        db.session.commit()
    client = signed_in("sro_a")
    first = client.get("/console/").get_data(as_text=True)
    second = client.get("/console/?page=2").get_data(as_text=True)
    assert len(_refs(first)) == 50 and len(_refs(second)) == 5 and "Page 1 of 2" in first
    # Past the end (the last tips of page 3 closed since its link was followed, a bookmarked page): the page
    # said "55 tips." then "No tips match." with no page links at all. It is now the last page.
    beyond = client.get("/console/?page=3").get_data(as_text=True)
    assert _refs(beyond) == _refs(second) and "Page 2 of 2" in beyond and 'rel="prev"' in beyond


@pytest.mark.parametrize("query", ["endpoint=x", "_method=GET", "_external=1&_scheme=javascript"])
def test_query_names_of_url_building_are_not_a_500(world: World, signed_in, query: str) -> None:
    # The page links used to pass the whole query to url_for(), whose own arguments these are.
    now = utcnow()
    with world.app.app_context():
        for i in range(55):
            db.session.add(Tip(ref=f"Q{i:04d}", school_id=world.school_a, receipt_hash=f"{i:064d}", category="other",
                               urgency="low", urgency_rank=0, confidence=0.5, model_version="t",
                               created_at=now - timedelta(minutes=i)))
        db.session.commit()
    response = signed_in("sro_a").get(f"/console/?status=all&category=other&{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    links = re.findall(r'<a href="([^"]*)" rel="next"', page)
    assert links and links[0].startswith("/console/?") and "status=all" in links[0] and "category=other" in links[0]
    assert "page=2" in links[0] and "endpoint" not in links[0] and "_" not in links[0].split("?", 1)[1]


@pytest.mark.parametrize("status", ["bogus", "", "Closed", "all "])
def test_an_unknown_status_in_the_query_shows_the_open_tips_as_the_box_says(world: World, signed_in,
                                                                             status: str) -> None:
    """An unknown status (a link edited by hand, cut short in a message) listed every tip, closed ones among them,
    while the Status box, which has no such choice, showed its first one: 'open'. A counselor took a closed case
    for an open one. It is the open tips now, as the box says."""
    with world.app.app_context():
        open_ref = make_tip(world.school_a).ref
        closed = make_tip(world.school_a)
        closed.status = "closed"
        db.session.commit()
    page = signed_in("sro_a").get("/console/", query_string={"status": status}).get_data(as_text=True)
    assert _refs(page) == [open_ref]
    assert '<option value="open" selected>' in page

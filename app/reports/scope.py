"""Which schools a report covers: a school, an agency's schools, or the district, never more than the
viewer may see (district admins every school; everyone else only the schools they are assigned to)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import select

from app.console.scope import sees_all_schools
from app.extensions import db
from app.models import Agency, School, Staff


@dataclass(frozen=True)
class Scope:
    token: str  # "district", "agency:3" or "school:5": the ?scope= value
    label: str
    school_ids: list[int] | None  # None: every school of the district (district admins only)


def _own_school_ids(staff: Staff) -> list[int]:
    return sorted(staff.school_ids)


def scope_options(staff: Staff) -> list[Scope]:
    """What this person may pick, widest first."""
    schools = db.session.scalars(select(School).order_by(School.name)).all()
    agencies = db.session.scalars(select(Agency).order_by(Agency.name)).all()
    if sees_all_schools(staff):
        options = [Scope("district", "Whole district", None)]
        options += [Scope(f"agency:{a.id}", f"{a.name} schools", sorted(s.id for s in a.schools)) for a in agencies]
        options += [Scope(f"school:{s.id}", s.name, [s.id]) for s in schools]
        return options
    own = set(_own_school_ids(staff))
    options = [Scope("district", "All my schools", sorted(own))]
    for agency in agencies:
        mine = sorted(s.id for s in agency.schools if s.id in own)
        if mine:
            options.append(Scope(f"agency:{agency.id}", f"{agency.name} schools (mine)", mine))
    options += [Scope(f"school:{s.id}", s.name, [s.id]) for s in schools if s.id in own]
    return options


def resolve_scope(staff: Staff, token: str | None) -> Scope:
    """The scope for ?scope=, or 404 when it is unknown or outside what this person may see."""
    token = (token or "district").strip()
    for option in scope_options(staff):
        if option.token == token:
            return option
    abort(404)

"""Who is asking: the signed-in staff member, and the admin-only gate."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort
from flask_login import current_user

from app.console.scope import sees_all_schools
from app.models import Role, Staff

F = TypeVar("F", bound=Callable[..., Any])


def me() -> Staff:
    """The signed-in staff member (the blueprint guard has already refused everyone else)."""
    staff = current_user._get_current_object()
    if not isinstance(staff, Staff):
        abort(401)
    return staff


def may_set_legal_hold(staff: Staff) -> bool:
    """A legal hold is for a police case, a subpoena or a lawsuit: the SRO (law enforcement at the school) or the
    district admin (the district's counsel goes through them). Not counselors, supervisors or dispatch: they ask
    one of those. Scope is separate: an SRO sees only the tips of their schools (app/console/scope.py)."""
    return staff.role in (Role.SRO, Role.DISTRICT_ADMIN)


def may_release_legal_hold(staff: Staff) -> bool:
    """Releasing lets the case be shredded: the district admin alone, who answers for the district's duty."""
    return sees_all_schools(staff)


def admin_required(view: F) -> F:
    """District admins only; everyone else gets 403 (admin pages hold no tip, so there is nothing to hide)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not sees_all_schools(me()):  # the one test of "district admin" (app/console/scope.py)
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)

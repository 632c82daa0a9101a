"""Calendar quarters in the district's time zone.

A tip made at 23:30 on 31 March in Casper belongs to Q1 even though it is already April in UTC: boundaries are
midnight local time (America/Denver, daylight saving included), converted to the naive UTC the columns hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime
from zoneinfo import ZoneInfo

from app.models.directory import DISTRICT_TIMEZONE

DISTRICT_TZ = ZoneInfo(DISTRICT_TIMEZONE)
_QUARTER = re.compile(r"(\d{4})[-_ ]?Q([1-4])", re.IGNORECASE)
MIN_YEAR, MAX_YEAR = MINYEAR + 1, MAXYEAR - 1


class BadQuarter(ValueError):
    """A ?quarter= value that is not of the form 2026Q4, or outside the years a date can hold."""


def _local_midnight_utc(day: date) -> datetime:
    """Midnight at the start of `day` in the district, as naive UTC."""
    local = datetime(day.year, day.month, day.day, tzinfo=DISTRICT_TZ)
    return local.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.fullmatch(text.strip())
        if match is None:
            raise BadQuarter(f"{text!r} is not a quarter like 2026Q4")
        year = int(match.group(1))
        # A report also needs the previous quarter and the next one's start: both must be real dates.
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise BadQuarter(f"{text!r} is outside the years {MIN_YEAR} to {MAX_YEAR}")
        return cls(year, int(match.group(2)))

    @classmethod
    def containing(cls, utc_naive: datetime) -> Quarter:
        """The quarter a naive-UTC instant falls in, as the district's calendar sees it."""
        local = utc_naive.replace(tzinfo=UTC).astimezone(DISTRICT_TZ)
        return cls(local.year, (local.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def first_month(self) -> int:
        return 3 * (self.number - 1) + 1

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    @property
    def start(self) -> datetime:
        """Inclusive start, naive UTC."""
        return _local_midnight_utc(date(self.year, self.first_month, 1))

    @property
    def end(self) -> datetime:
        """Exclusive end (the next quarter's start), naive UTC."""
        return self.next().start

    def months(self) -> list[tuple[int, int]]:
        """(year, month) of the quarter's three months."""
        return [(self.year, self.first_month + i) for i in range(3)]

    def month_index(self, utc_naive: datetime) -> int | None:
        """0, 1 or 2 for an instant inside the quarter (local calendar), else None."""
        local = utc_naive.replace(tzinfo=UTC).astimezone(DISTRICT_TZ)
        if local.year != self.year:
            return None
        index = local.month - self.first_month
        return index if 0 <= index < 3 else None

    def label(self) -> str:
        names = [date(y, m, 1).strftime("%b") for y, m in self.months()]
        return f"{self} ({names[0]}–{names[-1]} {self.year})"


def month_labels(quarter: Quarter) -> list[str]:
    return [date(y, m, 1).strftime("%b %Y") for y, m in quarter.months()]

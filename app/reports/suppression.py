"""Small-count suppression, so that no figure can point at a reporter.

Primary suppression: a count from 1 to threshold-1 is shown as "<threshold" (e.g. "<5"). Zero stays 0: it
describes nobody, and hiding it would make every empty cell look like a small one.

Complementary suppression: a table's row and column totals are treated as public (the same month totals appear
in the category table and the urgency table, and a reader could add up any other table), so a hidden cell must
never be the only hidden entry of a row or column; otherwise total minus the others gives it back. Whenever a
line has exactly one hidden entry, the smallest non-zero visible cell of that line is hidden too (shown "—"),
repeated until every line has none or at least two hidden entries. A hidden total counts as a hidden entry.
Tables that share totals (linked entries) are protected together: an entry hidden in one is hidden in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PRIMARY = "primary"
COMPLEMENT = "complement"
COMPLEMENT_MARK = "—"

Pos = tuple[int, int]


@dataclass
class Grid:
    """A table of counts with its margins: values[r][c], the last row and/or last column being totals.

    `row_totals`: the last column holds each row's total; `col_totals`: the last row holds each column's total.
    """

    values: list[list[int]]
    row_totals: bool
    col_totals: bool
    marks: dict[Pos, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.values)

    @property
    def n_cols(self) -> int:
        return len(self.values[0]) if self.values else 0

    def is_total(self, pos: Pos) -> bool:
        r, c = pos
        return (self.col_totals and r == self.n_rows - 1) or (self.row_totals and c == self.n_cols - 1)

    def lines(self) -> list[list[Pos]]:
        """Every equation a reader can write: a row's cells sum to its total, a column's to its total."""
        found: list[list[Pos]] = []
        if self.row_totals:
            found += [[(r, c) for c in range(self.n_cols)] for r in range(self.n_rows)]
        if self.col_totals:
            found += [[(r, c) for r in range(self.n_rows)] for c in range(self.n_cols)]
        return found

    def hidden(self, pos: Pos) -> bool:
        return pos in self.marks

    def value(self, pos: Pos) -> int:
        return self.values[pos[0]][pos[1]]

    def shown(self, pos: Pos, threshold: int) -> str:
        """What a page, chart or CSV may print for this entry."""
        mark = self.marks.get(pos)
        if mark == PRIMARY:
            return f"<{threshold}"
        if mark == COMPLEMENT:
            return COMPLEMENT_MARK
        return str(self.value(pos))

    def visible_value(self, pos: Pos) -> int | None:
        """The count if it may be shown, else None (charts draw a marker, never a bar to scale)."""
        return None if self.hidden(pos) else self.value(pos)


def grid_from_rows(rows: list[list[int]], *, row_totals: bool, col_totals: bool) -> Grid:
    """Add the margins to a table of interior counts and return it as a Grid (not yet protected)."""
    full = [list(row) + ([sum(row)] if row_totals else []) for row in rows]
    if col_totals:
        width = len(full[0]) if full else (1 if row_totals else 0)
        full.append([sum(row[c] for row in full) for c in range(width)])
    return Grid(full, row_totals=row_totals, col_totals=col_totals)


def _primary(grid: Grid, threshold: int) -> None:
    for r in range(grid.n_rows):
        for c in range(grid.n_cols):
            if 0 < grid.values[r][c] < threshold:
                grid.marks[(r, c)] = PRIMARY


def _complement_one_line(grid: Grid, line: list[Pos]) -> bool:
    """Hide one more entry of a line that has exactly one hidden entry. True if something changed."""
    if sum(1 for pos in line if grid.hidden(pos)) != 1:
        return False
    visible = [pos for pos in line if not grid.hidden(pos)]
    if not visible:
        return False
    interior_nonzero = [p for p in visible if not grid.is_total(p) and grid.value(p) > 0]
    interior = [p for p in visible if not grid.is_total(p)]
    # Smallest non-zero first (least information lost); a zero or the total only when nothing else is left.
    candidates = interior_nonzero or interior or visible
    choice = min(candidates, key=lambda p: (grid.value(p), p))
    grid.marks[choice] = COMPLEMENT
    return True


def protect(grids: list[Grid], threshold: int, links: Iterable[list[tuple[int, Pos]]] = ()) -> None:
    """Apply primary and complementary suppression to `grids` in place.

    `links` lists entries that hold the same number in several grids, as (grid index, position) groups.
    """
    link_groups = [list(group) for group in links]
    for grid in grids:
        grid.marks.clear()
        _primary(grid, threshold)
    changed = True
    while changed:
        changed = False
        for group in link_groups:
            if any(grids[g].hidden(pos) for g, pos in group):
                for g, pos in group:
                    if not grids[g].hidden(pos):
                        grids[g].marks[pos] = COMPLEMENT
                        changed = True
        for grid in grids:
            for line in grid.lines():
                changed = _complement_one_line(grid, line) or changed


def suppress_count(value: int, threshold: int) -> str:
    """A lone count with no published total next to it: primary suppression only."""
    return f"<{threshold}" if 0 < value < threshold else str(value)

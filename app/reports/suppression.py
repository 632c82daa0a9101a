"""Small-count suppression, so that no figure can point at a reporter.

Primary suppression: a count from 1 to threshold-1 is shown as "<threshold" (e.g. "<5"). Zero stays 0: it
describes nobody, and hiding it would make every empty cell look like a small one.

Complementary suppression: a table's row and column totals are treated as public (the same month totals appear
in the category table and the urgency table, and a reader could add up any other table), so a hidden cell must
never be the only hidden entry of a row or column; otherwise total minus the others gives it back. Whenever a
line has exactly one hidden entry, the smallest non-zero visible cell of that line is hidden too (shown "—"),
repeated until every line has none or at least two hidden entries. A hidden total counts as a hidden entry.
Tables that share totals (linked entries) are protected together: an entry hidden in one is hidden in all.

Counting hidden entries is not enough: a reader also knows that a "<5" entry is 1 to 4 and that a "—" entry
is at least 5 (a non-zero entry withheld; were it 1 to 4 it would read "<5"). With every total, that can still
pin one down (two hidden month totals that sum to 2 are each 1). So, last, every "<5" entry is checked: the
smallest and the largest value it can take in any whole-number filling of the hidden entries that agrees with
everything shown (an integer program, solved exactly by SciPy's HiGHS). One with a single possible value is
disclosed, and one more entry of its lines is hidden, until none is. (A "—" worked out is a count of at least
the threshold, which may be shown.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

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
    # The line's own total is its last entry; the others add up to it. In the column of row totals (and the row
    # of column totals) those others are totals too, and the partner is one of them, not a zero: a "—" that must
    # be 0 hides nothing, and hiding it made empty categories look withheld.
    total = line[-1]
    interior_nonzero = [p for p in visible if p != total and grid.value(p) > 0]
    interior = [p for p in visible if p != total]
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
    while True:
        _complement_lines(grids, link_groups)
        disclosed = first_disclosed(grids, threshold, link_groups)
        if disclosed is None or not _hide_beside(grids, *disclosed):
            return


def _hide_beside(grids: list[Grid], g: int, pos: Pos) -> bool:
    """Hide the smallest visible entry of a line through `pos` (non-zero interior entries first), or, when its
    lines are all hidden, of its table, then of any table. False when nothing is left to hide."""
    grid = grids[g]
    nearby = [p for line in grid.lines() if pos in line for p in line if not grid.hidden(p)]
    everywhere = [(i, p) for i, other in enumerate(grids) for p in _positions(other) if not other.hidden(p)]
    for pool in ([(g, p) for p in nearby], [(g, p) for p in _positions(grid) if not grid.hidden(p)], everywhere):
        if pool:
            # A zero tells nothing hidden (a "—" that must be 0 is read as 0): non-zero entries first.
            i, choice = min(pool, key=lambda item: (grids[item[0]].value(item[1]) == 0,
                                                    grids[item[0]].is_total(item[1]),
                                                    grids[item[0]].value(item[1]), item))
            grids[i].marks[choice] = COMPLEMENT
            return True
    return False


def _positions(grid: Grid) -> list[Pos]:
    return [(r, c) for r in range(grid.n_rows) for c in range(grid.n_cols)]


def first_disclosed(grids: list[Grid], threshold: int, links: Iterable[list[tuple[int, Pos]]] = ()
                    ) -> tuple[int, Pos] | None:
    """A "<threshold" entry that has only one possible value given everything shown, or None.

    One integer variable per hidden number (linked entries are one number), bounded by what its mark says, with
    one equation per row and column that has a total. A "<threshold" is 1 to threshold-1; a "—" is the
    threshold and more, as a reader who knows the rule reads it (complementary suppression withholds non-zero
    entries). Only when nothing non-zero was left is a "—" a 0, and the reader is granted that too. Taken as
    "0, or the threshold and more", a "—" let 29 of 400 random quarters give a "<5" back to such a reader.
    """
    index: dict[tuple[int, Pos], int] = {}
    n = 0
    for group in links:
        hidden = [(g, pos) for g, pos in group if grids[g].hidden(pos)]
        if hidden:
            index.update({key: n for key in hidden})
            n += 1
    for g, grid in enumerate(grids):
        for pos in sorted(grid.marks):
            if (g, pos) not in index:
                index[(g, pos)] = n
                n += 1
    if n == 0:
        return None
    big = 1.0 + sum(grid.value(pos) for grid in grids for pos in _positions(grid))  # more than any count
    primary, zero = [False] * n, [False] * n
    for (g, pos), v in index.items():
        primary[v] = primary[v] or grids[g].marks[pos] == PRIMARY
        zero[v] = grids[g].value(pos) == 0  # linked entries hold the same number
    equations: list[np.ndarray] = []
    sums: list[float] = []
    for g, grid in enumerate(grids):
        for line in grid.lines():  # its last entry is its total
            coefficients, known = np.zeros(n), 0.0
            for pos in line:
                sign = -1.0 if pos == line[-1] else 1.0
                if (g, pos) in index:
                    coefficients[index[(g, pos)]] += sign
                else:
                    known += sign * grid.value(pos)
            if coefficients.any():
                equations.append(coefficients)
                sums.append(-known)
    constraints = [LinearConstraint(np.array(equations), sums, sums)] if equations else []
    lower = [1.0 if primary[v] else 0.0 if zero[v] else float(threshold) for v in range(n)]
    upper = [float(threshold - 1) if primary[v] else 0.0 if zero[v] else big for v in range(n)]
    bounds = Bounds(lower, upper)
    integral = np.ones(n)
    small = [v for v in range(n) if primary[v]]  # a "—" pinned down is a count at the threshold or more
    seen: dict[int, set[int]] = {v: set() for v in small}  # values found in fillings: two or more, not pinned
    for v in small:
        if len(seen[v]) > 1:
            continue
        objective = np.zeros(n)
        objective[v] = 1.0
        for sign in (1.0, -1.0):
            result = milp(sign * objective, constraints=constraints, bounds=bounds, integrality=integral)
            if result.success:  # one filling: it tells the values of every cell, not just this one
                for w in small:
                    seen[w].add(round(result.x[w]))
        if len(seen[v]) < 2:  # pinned down (or, were the solver ever to fail, not shown free: hide more)
            return next(key for key, number in index.items() if number == v)
    return None


def _complement_lines(grids: list[Grid], link_groups: list[list[tuple[int, Pos]]]) -> None:
    """Hide linked entries together, and a partner for every line's lone hidden entry, until nothing changes."""
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

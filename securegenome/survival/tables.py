"""One party's survival records: loading, validation, time binning and the local per-time tables.

A party's table has one row per patient: a duration, an event flag (1 = event observed, 0 = censored) and
a group label.  Durations are put on an integer grid of a declared time unit: ``index = ceil(duration /
unit)`` (so integer durations with unit 1 are unchanged; a float duration is rounded *up* to the next
multiple of the unit).  Everything the parties tabulate lives on the public grid 0..T of such indices,
so every table's shape is public and only its contents are secret.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .. import core
from ..core import mpc
from ..errors import InputError

MAX_ROWS = 1 << 30  # per party; keeps sums of counts far inside every secure type used


@dataclass
class SurvivalTable:
    """One party's patients on the time grid: time index (int64), event (0/1) and group label (str)."""

    times: np.ndarray
    events: np.ndarray
    groups: np.ndarray
    source: str = "table"
    time_unit: float = 1.0
    binned: bool = False  # True if some duration was not already a multiple of the unit

    def __len__(self):
        return len(self.times)

    def durations(self) -> np.ndarray:
        """The binned durations in the original unit (index × unit)."""
        return self.times * self.time_unit


def load_table(data, *, duration_col: str = "T", event_col: str = "E", group_col: str = "group",
               time_unit: float = 1.0, source: str | None = None) -> SurvivalTable:
    """Validate a party's records (CSV path, pandas DataFrame, or dict of arrays) into a :class:`SurvivalTable`.

    Errors are one-line :class:`InputError`s naming the source, the column and the first bad row.
    """
    if not (isinstance(time_unit, (int, float)) and math.isfinite(time_unit) and time_unit > 0):
        raise InputError(f"time unit must be a positive number, not {time_unit!r}")
    columns, source = _columns(data, source)
    for col in (duration_col, event_col, group_col):
        if col not in columns:
            have = ", ".join(repr(str(c)) for c in columns) or "none"  # repr: a name may hold a newline
            raise InputError(f"{source}: missing column {col!r} (columns: {have})")
    n = len(columns[duration_col])
    if n > MAX_ROWS:
        raise InputError(f"{source}: {n} rows; at most {MAX_ROWS} per party")
    durations = _numeric(columns[duration_col], source, duration_col)
    bad = np.flatnonzero(durations < 0)
    if bad.size:
        raise InputError(f"{source}: column '{duration_col}', row {_row(bad[0])}: negative duration "
                         f"{durations[bad[0]]:g}")
    events = _numeric(columns[event_col], source, event_col)
    bad = np.flatnonzero((events != 0) & (events != 1))
    if bad.size:
        raise InputError(f"{source}: column '{event_col}', row {_row(bad[0])}: event must be 0 (censored) or 1 "
                         f"(observed), not {events[bad[0]]:g}")
    groups = np.asarray([_label(g) for g in columns[group_col]], dtype=object)
    missing = [i for i, g in enumerate(groups) if g == ""]
    if missing:
        raise InputError(f"{source}: column '{group_col}', row {_row(missing[0])}: missing group label")
    scaled = durations / time_unit
    times = np.ceil(scaled - 1e-9 * np.maximum(scaled, 1)).astype(np.int64)  # tolerate float noise in x/unit
    binned = bool(np.any(np.abs(times - scaled) > 1e-9 * np.maximum(scaled, 1)))
    return SurvivalTable(times, events.astype(np.int64), groups, source, float(time_unit), binned)


def _columns(data, source):
    if isinstance(data, (str, os.PathLike)):
        return _read_csv(os.fspath(data)), source or os.fspath(data)
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # pandas DataFrame
        return {c: data[c].to_numpy() for c in data.columns}, source or "table"
    if isinstance(data, dict):
        return {k: np.asarray(v) for k, v in data.items()}, source or "table"
    raise InputError(f"cannot read survival records from a {type(data).__name__}: give a CSV path, a pandas "
                     f"DataFrame or a dict of columns")


def _read_csv(path: str) -> dict:
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text (CSV) file") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{path}: empty file (expected a header line with column names)")
    header = [h.strip() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise InputError(f"{path}: line {i}: {len(r)} fields, but the header has {len(header)}")
    return {h: np.array([r[j].strip() for r in rows[1:]], dtype=object) for j, h in enumerate(header)}


def _row(i) -> int:
    """Rows are numbered from 1 for the first record (the line after a CSV header is line 2)."""
    return int(i) + 1


def _numeric(values, source, col) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        out = values.astype(float)
    else:
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise InputError(f"{source}: column '{col}', row {_row(i)}: not a number: {str(v)!r}") from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise InputError(f"{source}: column '{col}', row {_row(bad[0])}: not a finite number: {str(values[bad[0]])!r}")
    return out


def _label(g) -> str:
    """Group labels compare as text on every party (a CSV gives '1', a DataFrame 1 or 1.0)."""
    if g is None or (isinstance(g, float) and math.isnan(g)):
        return ""
    if isinstance(g, (float, np.floating)) and float(g).is_integer():
        return str(int(g))
    return str(g).strip()


# ---------------------------------------------------------------------------------------------------------
# public agreement: group labels and the time grid

async def agree_groups(table: SurvivalTable, groups=None, *, dp: bool = False) -> tuple[str, str]:
    """The two group labels, in a fixed order, the same on every party.

    Given ``groups`` (two labels) every party checks its rows use only those -- except with ``dp``, where a
    run must not depend on any one patient, so rows with another label are left out (:func:`in_groups`)
    instead of stopping the run.  Otherwise each party publishes the *set* of labels it holds (public
    metadata, like column names) and the union, sorted, must have exactly two labels.
    """
    if groups is not None:
        groups = tuple(_label(g) for g in groups)
        if len(groups) != 2 or groups[0] == groups[1]:
            raise InputError(f"give exactly two distinct group labels, not {list(groups)}")
        await core.agree(groups=list(groups))
        unknown = sorted(set(table.groups) - set(groups))
        if unknown and not dp:
            row = next(i for i, g in enumerate(table.groups) if g == unknown[0])
            raise InputError(f"{table.source}: row {_row(row)}: group label '{unknown[0]}' is not one of the "
                             f"two groups {list(groups)}")
        return groups
    mine = sorted(set(table.groups))
    every = [await core.share_public(mine, sender=i) for i in range(len(mpc.parties))]
    union = sorted(set().union(*every))
    if len(union) != 2:
        raise InputError(f"the parties' group column holds {len(union)} distinct label(s) {union[:10]}; "
                         f"exactly two groups are compared (name them with groups=/--groups)")
    return union[0], union[1]


def in_groups(table: SurvivalTable, groups) -> SurvivalTable:
    """This party's rows whose label is one of ``groups`` (the others are in neither curve); a local warning
    (this party's stderr only, never sent) says how many were left out."""
    keep = np.isin(table.groups, list(groups))
    if keep.all():
        return table
    warnings.warn(f"{table.source}: {int((~keep).sum())} row(s) with a label outside the groups {list(groups)} "
                  f"left out", stacklevel=2)
    return dataclasses.replace(table, times=table.times[keep], events=table.events[keep], groups=table.groups[keep])


async def public_grid(table: SurvivalTable, horizon=None) -> int:
    """The largest time index T of the public grid 0..T.

    With ``horizon`` (in the original unit) given, all parties agree on it (durations beyond it are censored
    at it by :func:`censored_at`); otherwise the maximum over all parties is computed in shares and opened
    (``survival.horizon``).
    """
    if horizon is not None:
        if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon >= 0):
            raise InputError(f"horizon must be a non-negative number, not {horizon!r}")
        grid = int(math.ceil(horizon / table.time_unit - 1e-9))
        await core.agree(horizon=grid)
        return grid
    secint = mpc.SecInt(40)
    local = int(table.times.max()) if len(table) else 0
    if local >= 1 << 38:
        raise InputError(f"{table.source}: duration index {local} is too large; use a coarser time unit")
    maxima = mpc.input(secint(local))
    grid = int(await core.open(mpc.max(maxima) if len(maxima) > 1 else maxima[0], what="survival.horizon",
                               why="the public time grid 0..T fixes the shape of every table"))
    return grid


def censored_at(table: SurvivalTable, grid: int) -> SurvivalTable:
    """Administrative censoring at the public horizon: a patient followed beyond time index ``grid`` counts
    as alive and censored at ``grid`` (lifelines' convention for a study end).  Local and data-independent:
    the run goes on whatever the durations (an abort would tell every party that some patient lived longer,
    and would break differential privacy).  A local warning (never sent) says how many rows it changed."""
    beyond = table.times > grid
    if not beyond.any():
        return table
    warnings.warn(f"{table.source}: {int(beyond.sum())} duration(s) beyond the horizon censored at it",
                  stacklevel=2)
    return dataclasses.replace(table, times=np.minimum(table.times, grid), events=np.where(beyond, 0, table.events))


# ---------------------------------------------------------------------------------------------------------
# local tables (numpy, no communication)

def group_masks(table: SurvivalTable, groups) -> list[np.ndarray]:
    return [table.groups == g for g in groups]


def at_risk_table(table: SurvivalTable, groups, grid: int) -> np.ndarray:
    """Rows d1, d2, n1, n2 over times 0..grid: events and numbers at risk (duration ≥ t) per group."""
    out = np.zeros((4, grid + 1), dtype=np.int64)
    for g, mask in enumerate(group_masks(table, groups)):
        t, e = table.times[mask], table.events[mask]
        out[g] = np.bincount(t, weights=e, minlength=grid + 1)[:grid + 1]
        exits = np.bincount(t, minlength=grid + 1)[:grid + 1]
        out[2 + g] = np.cumsum(exits[::-1])[::-1]
    return out


def interval_index(times: np.ndarray, width: int) -> np.ndarray:
    """Interval k of a time index t: k = ceil(t / width); interval 0 is {0}, interval k is ((k-1)w, kw]."""
    return -(-times // width)


def interval_counts(table: SurvivalTable, groups, width: int, n_intervals: int) -> np.ndarray:
    """Shape (2 groups, 2 kinds [events, censored], n_intervals): this party's exits per public interval."""
    out = np.zeros((2, 2, n_intervals), dtype=np.int64)
    for g, mask in enumerate(group_masks(table, groups)):
        k, e = interval_index(table.times[mask], width), table.events[mask]
        out[g, 0] = np.bincount(k[e == 1], minlength=n_intervals)[:n_intervals]
        out[g, 1] = np.bincount(k[e == 0], minlength=n_intervals)[:n_intervals]
    return out


def pooled(tables: list[SurvivalTable]) -> SurvivalTable:
    """All parties' rows in one table (plaintext twin and tests only)."""
    return SurvivalTable(np.concatenate([t.times for t in tables]), np.concatenate([t.events for t in tables]),
                         np.concatenate([t.groups for t in tables]), "pooled",
                         tables[0].time_unit, any(t.binned for t in tables))

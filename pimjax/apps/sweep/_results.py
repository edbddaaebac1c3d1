"""Tidy sweep results: one CSV row per config and metric, appended so a sweep can resume.

Columns: ``sweep``, ``model``, ``model_spec`` (the float training run,
:attr:`~pimjax.apps.sweep.ModelSpec.run_key`; empty for a caller's own model), ``seed`` (the
evaluation seed of the noise and rounding draws), the result-determining static fields
(:data:`~pimjax.apps.sweep.STATIC_FIELDS`), the traced fields
(:data:`~pimjax.apps.sweep.TRACED_FIELDS`, modes by name), ``metric`` and ``value``.

Every evaluated chunk of configs is appended as one block (one ``write``, flushed and
``fsync``-ed), after the whole chunk has been computed. A sweep that is interrupted therefore
leaves complete configs, and at most the block being written when it stopped may be cut short.
:meth:`ResultsFile.prepare` repairs that on resume: it drops a cut last line, drops the rows of
configs that lack some metric (and any repeated row), rewrites the file if it changed, and
returns the keys of the complete configs, which the sweep then skips. So a resumed sweep
writes no duplicate and loses no row. Several sweeps may share one file: given the identity
columns of the sweep being run, only that sweep's configs are checked for completeness; the
rows of every other sweep, model or seed are kept as they are.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Iterable, Mapping, Sequence

from pimjax.apps._atomic import DamagedFileError, atomic_open
from pimjax.apps.sweep._config import STATIC_FIELDS, TRACED_FIELDS
from pimjax.apps.sweep._grid import fields_key

IDENTITY_COLUMNS: tuple[str, ...] = ("sweep", "model", "model_spec", "seed")
CONFIG_COLUMNS: tuple[str, ...] = IDENTITY_COLUMNS + STATIC_FIELDS + TRACED_FIELDS
COLUMNS: tuple[str, ...] = CONFIG_COLUMNS + ("metric", "value")

_INT_COLS = {"seed", "rows", "width", "num_slices", "accumulator_bits", "act_bits", "act_frac", "weight_bits", "weight_frac",
             "out_bits", "out_frac"}
_FLOAT_COLS = {"noise_level", "value"}


def row_key(row: Mapping[str, Any]) -> str:
    """The config a row belongs to: its identity columns and :func:`~pimjax.apps.sweep._grid.fields_key`."""
    return "|".join(str(row[c]) for c in IDENTITY_COLUMNS) + "|" + fields_key(row)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def parse_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row with its numbers converted (ints, floats; the rest stays text)."""
    out: dict[str, Any] = dict(row)
    for c in _INT_COLS:
        if c in out and out[c] not in ("", None):
            out[c] = int(out[c])
    for c in _FLOAT_COLS:
        if c in out and out[c] not in ("", None):
            out[c] = float(out[c])
    return out


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete rows of a results CSV, numbers converted (a cut last line is ignored)."""
    path = os.fspath(path)
    with open(path, newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return [parse_row(r) for r in csv.DictReader(io.StringIO(text))]


class ResultsFile:
    """An append-only tidy CSV of sweep results with repair-and-resume (module docstring).

    Args:
      path: the CSV (created with its header when missing).
      metrics: the metric names every config must have to count as complete.
      identity: the :data:`IDENTITY_COLUMNS` values of the sweep being run; only its configs are
        checked for completeness (default None: every row's config is).
    """

    def __init__(self, path: str | os.PathLike, metrics: Sequence[str], identity: Mapping[str, Any] | None = None):
        self.path = os.fspath(path)
        self.metrics = tuple(metrics)
        if not self.metrics:
            raise ValueError("metrics must name at least one metric")
        if identity is not None and set(identity) != set(IDENTITY_COLUMNS):
            raise ValueError(f"identity must give exactly the columns {list(IDENTITY_COLUMNS)}, got {sorted(identity)}")
        self.identity = None if identity is None else {c: str(identity[c]) for c in IDENTITY_COLUMNS}

    def _ours(self, row: Mapping[str, str]) -> bool:
        return self.identity is None or all(row[c] == v for c, v in self.identity.items())

    def has_rows(self) -> bool:
        """Whether the file holds any row (complete or not) of the sweep being run (of any sweep
        without ``identity``)."""
        if not os.path.exists(self.path):
            return False
        with open(self.path, newline="") as f:
            text = f.read()
        text = text[: text.rfind("\n") + 1]
        try:
            return any(self._ours(r) for r in csv.DictReader(io.StringIO(text)))
        except (KeyError, csv.Error):  # not a results file: prepare() says so
            return False

    def prepare(self) -> set[str]:
        """Repairs the file (see module docstring) and returns the keys of complete configs."""
        d = os.path.dirname(self.path)
        if d:
            os.makedirs(d, exist_ok=True)
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            self._write_all([])
            return set()
        with open(self.path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError as e:
            raise DamagedFileError(f"results file {self.path} is damaged (not text: {e}); move it aside or use "
                                   f"another --out") from None
        cut = bool(text) and not text.endswith("\n")
        if cut:
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(io.StringIO(text))
        try:
            fields = reader.fieldnames
            rows = list(reader)
        except csv.Error as e:
            raise DamagedFileError(f"results file {self.path} is damaged ({e}); move it aside or use another "
                                   f"--out") from None
        if tuple(fields or ()) != COLUMNS:
            raise ValueError(f"{self.path}: not a pimjax sweep results file (columns {fields}, "
                             f"expected {list(COLUMNS)}); use another --out")
        for i, r in enumerate(rows):  # cut or overwritten in the middle (a cut last line is repaired above)
            bad = None in r or any(v is None or "\0" in v for v in r.values())
            if not bad:
                try:
                    float(r["value"])
                except ValueError:
                    bad = True
            if bad:
                raise DamagedFileError(f"results file {self.path} is damaged at line {i + 2} (a row of "
                                       f"{len([v for v in r.values() if v is not None])} fields, not {len(COLUMNS)} "
                                       f"numbers and names); move it aside or use another --out")
        seen: set[tuple[str, str]] = set()
        by_key: dict[str, dict[str, dict[str, str]]] = {}
        order: list[str] = []
        dup = False
        for r in rows:
            k = row_key(r)
            if (k, r["metric"]) in seen:
                dup = True
                continue
            seen.add((k, r["metric"]))
            if k not in by_key:
                by_key[k] = {}
                order.append(k)
            by_key[k][r["metric"]] = r
        complete = {k for k in order if all(m in by_key[k] for m in self.metrics)}
        keep = [r for k in order if k in complete or not self._ours(next(iter(by_key[k].values())))
                for r in by_key[k].values()]
        if cut or dup or len(keep) != len(rows):
            self._write_all(keep)
        return complete

    def _write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        with atomic_open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({c: r[c] for c in COLUMNS})

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Appends rows as one block (one write, flushed and fsync-ed)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        for r in rows:
            w.writerow({c: _fmt(r[c]) for c in COLUMNS})
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())


def config_rows(base: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tidy rows of one config: ``base`` (config columns) plus one row per metric."""
    out = []
    for m, v in metrics.items():
        v = float(v)
        out.append({**base, "metric": m, "value": v if math.isfinite(v) else float("nan")})
    return out


__all__ = ["COLUMNS", "CONFIG_COLUMNS", "IDENTITY_COLUMNS", "ResultsFile", "config_rows", "parse_row", "read_results", "row_key"]

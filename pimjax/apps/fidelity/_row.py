"""One row of the fidelity table: a paper's number or claim next to pimjax's, with a verdict.

Every paper module of :mod:`pimjax.apps.fidelity` returns a list of :class:`Row`; the table,
``docs/fidelity.md`` and the golden verdicts of the tests are made from them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

TOLERANCE = 0.25
"""A value row is "within 25%" when ``|pimjax - paper| / |paper| <= TOLERANCE``."""

VERDICTS = ("within 25%", "trend holds", "misses", "not reproduced")
"""The verdicts a row can have ("not reproduced": nothing computed, e.g. a results file missing)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Row:
    """A headline number (``kind="value"``) or a qualitative claim (``kind="trend"``) of a paper."""

    paper: str  # "Memory Slices", "NeuroTrainer", "AMD", "Memolution", "Yang & Sze"
    quantity: str  # what is compared, e.g. "LSTM1 throughput, 512 HMC2.0 slices"
    source: str  # "Fig. 17", "Table 1", "Sec. 7"
    kind: str  # "value" or "trend"
    paper_value: float | str | None
    pimjax_value: float | str | None
    unit: str = ""
    verdict: str  # "within 25%", "trend holds", "misses"
    assumptions: tuple[str, ...] = ()  # labelled assumptions the row depends on
    gap: tuple[tuple[str, float], ...] = ()  # for a miss > 25%: (mechanism, percent of the gap)
    gap_basis: str = ""  # what the gap's percents are of, when not the miss itself (with its numbers)

    def __post_init__(self) -> None:
        if self.kind not in ("value", "trend"):
            raise ValueError(f"kind must be 'value' or 'trend', not {self.kind!r}")
        if self.verdict not in VERDICTS and not self.verdict.startswith("within "):
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")

    @property
    def rel_error(self) -> float | None:
        """``(pimjax - paper) / |paper|`` for two numbers, else None."""
        p, v = self.paper_value, self.pimjax_value
        if isinstance(p, bool) or isinstance(v, bool):
            return None
        if not isinstance(p, (int, float)) or not isinstance(v, (int, float)) or p == 0:
            return None
        if not (math.isfinite(p) and math.isfinite(v)):
            return None
        return (float(v) - float(p)) / abs(float(p))

    @property
    def key(self) -> str:
        """The row's identity in the golden verdicts: ``paper | quantity | source``."""
        return f"{self.paper} | {self.quantity} | {self.source}"


def verdict_for(paper_value: float, pimjax_value: float | None, tol: float = TOLERANCE) -> str:
    """"within 25%" if ``pimjax_value`` is within ``tol`` of ``paper_value`` (relative), else "misses"."""
    if pimjax_value is None:
        return "not reproduced"
    if paper_value == 0:
        return "within 25%" if abs(pimjax_value) <= tol else "misses"
    rel = abs(float(pimjax_value) - float(paper_value)) / abs(float(paper_value))
    return f"within {round(tol * 100)}%" if rel <= tol + 1e-12 else "misses"


def trend_verdict(holds: bool) -> str:
    """"trend holds" or "misses"."""
    return "trend holds" if holds else "misses"


def shares(parts: list[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """``parts`` (mechanism, contribution) as percents of their sum, rounded to 0.1 (``()`` for a zero sum).

    A negative contribution narrows the difference; the percents add up to 100.
    """
    tot = sum(v for _, v in parts)
    if tot == 0 or not math.isfinite(tot):
        return ()
    return tuple((name, round(100.0 * v / tot, 1)) for name, v in parts)


MIN_SEEDS = 3
"""A trend over training seeds needs at least this many seeds; with fewer its row is "not reproduced"."""

SPREAD_BASIS = ("the larger range over the seeds, per step (not shares: a step's difference of means, in the paper's "
                "direction, is beyond the seeds' spread above 100 %)")
"""What the percents of :func:`steps_gap` are."""


def seed_stats(vals: list[float]) -> tuple[float, float]:
    """Mean and range (max - min) of one quantity over the seeds."""
    return sum(vals) / len(vals), (max(vals) - min(vals))


def less_beyond_spread(a: list[float], b: list[float]) -> bool:
    """"a < b" beyond the seeds' spread: ``mean(b) - mean(a)`` exceeds the larger of the two ranges.

    The one rule by which an accuracy trend over training seeds holds (with at least
    :data:`MIN_SEEDS` seeds; the caller checks the count).
    """
    (ma, sa), (mb, sb) = seed_stats(a), seed_stats(b)
    return mb - ma > max(sa, sb)


def steps_gap(steps: list[tuple[str, list[float], list[float]]], unit: str = "") -> tuple[tuple[str, float], ...]:
    """For each step ``(label, a, b)`` of a trend "a < b": ``mean(b) - mean(a)`` in percent of the larger range.

    The label shows both numbers (the difference of means and the range), so the percent can be
    checked against :func:`less_beyond_spread`, which needs it above 100 (:data:`SPREAD_BASIS`).
    """
    out = []
    for label, a, b in steps:
        (ma, sa), (mb, sb) = seed_stats(a), seed_stats(b)
        d, spread = mb - ma, max(sa, sb)
        pct = 100.0 * d / spread if spread > 0 else (math.inf if d > 0 else -math.inf if d < 0 else 0.0)
        out.append((f"{label}: difference of means {d:+.3g}{unit}, larger range {spread:.2g}{unit}", round(pct, 1)))
    return tuple(out)


RESULTS = os.path.join(os.path.dirname(__file__), "results")
"""The committed measured results (``*.json``) the accuracy rows read, each naming its command."""


def load_results(name: str) -> dict | None:
    """The results file ``name`` in :data:`RESULTS`, or ``None`` when it is not there."""
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


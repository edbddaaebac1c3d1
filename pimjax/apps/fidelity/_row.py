"""One row of the fidelity table: a paper's number or trend next to pimjax's."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class Row:
    paper: str
    quantity: str
    source: str
    kind: str
    paper_value: float | str | None
    pimjax_value: float | str | None
    unit: str = ""
    verdict: str
    assumptions: tuple[str, ...] = ()
    gap: tuple[tuple[str, float], ...] = ()


def verdict_for(paper_value: float, pimjax_value: float, tol: float = 0.25) -> str:
    """``"within 25%"`` if ``|pimjax / paper - 1| <= tol``, else ``"misses"``."""
    if abs(pimjax_value / paper_value - 1.0) <= tol:
        return "within 25%"
    return "misses"

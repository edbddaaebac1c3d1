"""Fidelity: every headline number and trend of the five source papers next to pimjax's.

Each paper has a module ``pimjax.apps.fidelity._<paper>`` with ``rows(quick: bool) -> list[Row]``
(:class:`~pimjax.apps.fidelity._row.Row`). :func:`collect` runs them; ``pimjax fidelity``
prints the table and ``--write-docs`` regenerates ``docs/fidelity.md`` and the marked blocks
``<!-- fidelity:begin NAME -->`` ... ``<!-- fidelity:end -->`` in the other docs
(:mod:`pimjax.apps.fidelity._docs`). ``quick=True`` computes every cost-model row (shapes only,
seconds) and reads the accuracy rows from the committed results files (``results/*.json``
written by the scripts named in each row; the training runs are too expensive to repeat inside
the table). ``quick=False`` differs only for Memolution: its schedules over the five models of
``scripts/repro_memolution_tables.py`` (about 75 s) instead of AlexNet alone.
"""

from __future__ import annotations

import importlib
import types

from ._row import TOLERANCE, VERDICTS, Row, trend_verdict, verdict_for

PAPER_MODULES: tuple[tuple[str, str], ...] = (
    ("memory_slices", "Memory Slices"),
    ("neurotrainer", "NeuroTrainer"),
    ("amd", "AMD"),
    ("memolution", "Memolution"),
    ("yang_sze", "Yang & Sze"),
)
"""(module suffix, paper name) of every paper, in the table's order."""

PAPER_SLUGS: tuple[str, ...] = tuple(m for m, _ in PAPER_MODULES)


def paper_rows(slug: str, quick: bool = True) -> list[Row]:
    """The rows of one paper (``slug`` from :data:`PAPER_SLUGS`)."""
    if slug not in PAPER_SLUGS:
        raise ValueError(f"unknown paper {slug!r}; papers: {', '.join(PAPER_SLUGS)}")
    mod = importlib.import_module(f"{__name__}._{slug}")
    return list(mod.rows(quick))


def _register_assumptions(mod: types.ModuleType) -> None:
    """Registers a paper module's labelled assumptions: its ``assumptions()`` where it has one (texts
    with numbers from the model, computed when called rather than at import), else its ``ASSUMPTIONS``."""
    from ._docs import register_assumptions

    fn = getattr(mod, "assumptions", None)
    assumptions = fn() if callable(fn) else getattr(mod, "ASSUMPTIONS", {})
    if isinstance(assumptions, dict):  # label -> sentence; a paper whose rows carry whole sentences has none
        register_assumptions(assumptions)


def paper_notes(slug: str) -> str:
    """A paper module's notes (markdown for ``docs/fidelity.md``), registering its assumptions.

    The notes are the module's ``notes()`` where it has one (notes whose numbers come from the cost
    model, computed when called rather than at import), else its ``NOTES``.
    """
    mod = importlib.import_module(f"{__name__}._{slug}")
    _register_assumptions(mod)
    notes = getattr(mod, "notes", None)
    return notes() if callable(notes) else getattr(mod, "NOTES", "")


def collect(quick: bool = True, papers: tuple[str, ...] | None = None) -> list[Row]:
    """Every row of the selected papers (default all), in :data:`PAPER_MODULES` order."""
    out: list[Row] = []
    for slug in papers or PAPER_SLUGS:
        _register_assumptions(importlib.import_module(f"{__name__}._{slug}"))
        out.extend(paper_rows(slug, quick))
    return out


__all__ = ["PAPER_MODULES", "PAPER_SLUGS", "Row", "TOLERANCE", "VERDICTS", "collect", "paper_notes", "paper_rows",
           "trend_verdict", "verdict_for"]

"""Placeholder for the Memolution rows (written on the ``memolution`` branch; replaced at merge)."""

from __future__ import annotations

from ._row import Row


def rows(quick: bool) -> list[Row]:
    """No rows yet."""
    return []

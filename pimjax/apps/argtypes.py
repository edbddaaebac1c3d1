"""argparse value types shared by the command-line tools."""

from __future__ import annotations

import argparse


def positive_int(s: str) -> int:
    """An integer >= 1, or an argparse error naming the value."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v

"""argparse value types shared by the command-line tools, and their usage errors.

Each type checks the range that the configuration it feeds accepts, so that a bad value is a
usage error (exit status 2) naming the value and the range, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from typing import Callable, Iterator


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi`` (no upper limit when ``hi`` is ``None``)."""

    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}" if hi is None
                                             else f"must be in {lo}..{hi}, got {v}")
        return v

    return parse


positive_int = int_in(1)
"""An integer >= 1, or an argparse error naming the value."""


def number_in(lo: float, hi: float = math.inf, *, lo_open: bool = False, why: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``).

    ``why`` is appended to the range in the error (e.g. where the bound comes from).
    """
    rng = (f"{'>' if lo_open else '>='} {lo:g}" if hi == math.inf
           else f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]")

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(v) or (v <= lo if lo_open else v < lo) or v > hi:
            raise argparse.ArgumentTypeError(f"must be a finite number {rng}{why}, got {text!r}")
        return v

    return parse


def add_usage_errors(p: argparse.ArgumentParser) -> None:
    """Lets the sub-command of ``p`` report bad input as ``p``'s usage error (:func:`usage_errors`)."""
    p.set_defaults(usage_error=p.error)


@contextlib.contextmanager
def usage_errors(args: argparse.Namespace, errors: tuple[type[Exception], ...] = (ValueError,)) -> Iterator[None]:
    """Turns an exception of ``errors`` raised inside (a configuration or model rejecting its
    input; default ``ValueError``) into the usage error of the sub-command (exit status 2, the
    message on stderr).

    Wrap only the construction and validation of the inputs, not the work that follows, so
    that an internal error still shows its traceback.
    """
    try:
        yield
    except errors as e:
        args.usage_error(str(e))

"""argparse value types shared by the command-line tools, and their usage errors.

Each type checks the range that the configuration it feeds accepts, so that a bad value is a
usage error (exit status 2) naming the value and the range, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
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
        parser = getattr(args.usage_error, "__self__", None)  # the sub-command's parser (add_usage_errors)
        args.usage_error(in_flag_names(str(e), flag_names(parser) if parser is not None else {}))


def flag_names(p: argparse.ArgumentParser) -> dict[str, str]:
    """``dest -> option`` for the visible options of ``p`` (``learning_rate -> --lr``), for
    :func:`in_flag_names`."""
    return {a.dest: a.option_strings[0] for a in p._actions
            if a.option_strings and a.help != argparse.SUPPRESS and a.dest not in ("help", "version")}


_API_NAME = re.compile(r"\b(?:[A-Z]\w*Config\.)?(\w+)=(?:True|False|None|'[^']*'|\w+) \((--[\w-]+)\)|"
                       r"\b[A-Z]\w*Config\.(\w+)")


_API_ALIASES = {"batch": "batch_size"}
"""Argument names of the Python API whose option has another name (``cost_inputs(batch=)``)."""


def in_flag_names(message: str, names: dict[str, str]) -> str:
    """``message`` (of a configuration's ``ValueError``) in the words of the command line, for the
    fields in ``names`` (:func:`flag_names`): ``TrainConfig.epochs`` -> ``--epochs``,
    ``resume=True (--resume)`` -> ``--resume``, ``input_size >= 8`` -> ``--input-size >= 8``
    (a name with an underscore), ``batch (9)`` -> ``--batch-size (9)`` (a name and its value)."""
    if not names:
        return message

    def sub(m: re.Match) -> str:
        if m.group(2):
            return m.group(2)
        return names.get(m.group(3), m.group(0))

    def bare(m: re.Match) -> str:
        name = m.group(1)
        return names.get(_API_ALIASES.get(name, name), name) if ("_" in name or m.group(2)) else name

    message = _API_NAME.sub(sub, message)
    return re.sub(r"(?<![\w./`-])([a-z]\w*)\b(?=( \(-?\d+\))?)", bare, message)


class _DeprecatedAlias(argparse.Action):
    """An old spelling of an option: stores into the new option's ``dest`` and prints a
    deprecation note on stderr (hidden from ``--help``)."""

    def __init__(self, option_strings, dest, *, new: str, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(p: argparse.ArgumentParser, old: str, new: argparse.Action) -> argparse.Action:
    """Adds ``old`` to ``p`` as a hidden, deprecated spelling of the option ``new`` (an action
    that ``p.add_argument`` returned): same destination, type and choices, a note on stderr
    when used. The old spellings stay for one release."""
    return p.add_argument(old, dest=new.dest, type=new.type, choices=new.choices, metavar=new.metavar,
                          default=argparse.SUPPRESS, help=argparse.SUPPRESS, action=_DeprecatedAlias,
                          new=new.option_strings[0])


def deprecated_value(renamed: dict[str, str], flag: str) -> Callable[[str], str]:
    """An argparse type for a name that also accepts the old names of ``renamed`` (old -> new)
    for one release, with a deprecation note on stderr (put the new names in ``choices``)."""

    def parse(text: str) -> str:
        if text in renamed:
            print(f"pimjax: {flag} {text} is deprecated and will be removed in the next release; "
                  f"use {flag} {renamed[text]}", file=sys.stderr)
            return renamed[text]
        return text

    return parse


_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj):`~?([^`]+)`")


def plain(text: str) -> str:
    """``text`` without reStructuredText markup (``:func:`x``` -> ``x``, double backquotes ->
    single ones), for ``--help``: docstrings are written for Sphinx, help is read in a terminal."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return text.replace("``", "`")


def description(doc: str) -> str:
    """The ``--help`` description of a sub-command from its module docstring: the docstring
    without its indented example paragraphs (argparse shows the usage) and without RST markup
    (:func:`plain`); use with ``formatter_class=argparse.RawDescriptionHelpFormatter``."""
    paras = [q for q in doc.strip().split("\n\n") if not q.startswith("    ")]
    paras = [q[0].upper() + q[1:] for q in paras]
    return plain("\n\n".join(paras))

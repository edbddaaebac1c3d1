"""Rules choosing the hardware of each intercepted contraction of a user's model.

An :class:`EmulationRule` matches a module path (a regular expression, ``re.fullmatch`` on the
``/``-joined path) and op kinds; the first matching rule of a list wins. Its ``hw`` is a
:class:`~pimjax.nn.TrainingHardware`, a preset name of :func:`~pimjax.nn.training_hardware`
(:data:`~pimjax.nn.PRECISIONS`), ``None`` (leave the op in float), or ``"default"`` (the
hardware given to :func:`pimjax.emulate`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._hardware import PRECISIONS, training_hardware

OP_KINDS: tuple[str, ...] = ("dot_general", "conv_general_dilated")
"""The intercepted op kinds (``@``, ``jnp.dot``/``matmul``/``einsum`` lower to ``dot_general``)."""

DEFAULT = "default"
"""A rule's ``hw`` meaning the hardware passed to :func:`pimjax.emulate`."""


def resolve_hw(hw: Any, what: str) -> TrainingHardware | None:
    """``hw`` as a :class:`TrainingHardware` or ``None`` (float); a preset name is built with
    :func:`training_hardware` defaults. TypeError / ValueError naming ``what`` otherwise."""
    if hw is None or isinstance(hw, TrainingHardware):
        return hw
    if isinstance(hw, str):
        if hw not in PRECISIONS:
            raise ValueError(f"{what}: unknown hardware preset {hw!r}; valid: {', '.join(PRECISIONS)}, "
                             f"a TrainingHardware, or None (float)")
        return training_hardware(hw)
    raise TypeError(f"{what} must be a TrainingHardware, a preset name ({', '.join(PRECISIONS)}) or None (float), "
                    f"got {type(hw).__name__}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmulationRule:
    """Which hardware the contractions of matching modules run on.

    Args:
      module_path: regular expression matched with ``re.fullmatch`` against the op's module path
        (``"/"``-joined attribute names from the model root, e.g. ``"features/0"``; ``""`` is
        the root module). Default ``".*"``: every module.
      ops: op kinds the rule applies to (a subset of :data:`OP_KINDS`); empty: all.
      hw: a :class:`~pimjax.nn.TrainingHardware`, a preset name (:data:`~pimjax.nn.PRECISIONS`),
        ``None`` (leave the op in float), or ``"default"`` (the hardware given to ``emulate``).

    Raises:
      ValueError / TypeError naming the field: an invalid regex, an unknown op kind or preset.

    >>> r = EmulationRule(module_path=r"head", hw=None)
    >>> r.matches("head", "dot_general"), r.matches("body/head", "dot_general")
    (True, False)
    >>> EmulationRule(ops=("matmul",))
    Traceback (most recent call last):
    ...
    ValueError: EmulationRule.ops: unknown op kind 'matmul'; valid: dot_general, conv_general_dilated
    """

    module_path: str = ".*"
    ops: tuple[str, ...] = ()
    hw: Any = DEFAULT

    def __post_init__(self) -> None:
        if not isinstance(self.module_path, str):
            raise TypeError(f"EmulationRule.module_path must be a regular expression string, "
                            f"got {type(self.module_path).__name__}")
        try:
            re.compile(self.module_path)
        except re.error as e:
            raise ValueError(f"EmulationRule.module_path {self.module_path!r} is not a valid regular expression: "
                             f"{e}") from None
        ops = (self.ops,) if isinstance(self.ops, str) else self.ops
        try:
            ops = tuple(ops)
        except TypeError:
            raise TypeError(f"EmulationRule.ops must be a sequence of op kinds ({', '.join(OP_KINDS)}), "
                            f"got {self.ops!r}") from None
        for op in ops:
            if op not in OP_KINDS:
                raise ValueError(f"EmulationRule.ops: unknown op kind {op!r}; valid: {', '.join(OP_KINDS)}")
        object.__setattr__(self, "ops", ops)
        if not (isinstance(self.hw, str) and self.hw == DEFAULT):
            object.__setattr__(self, "hw", resolve_hw(self.hw, "EmulationRule.hw"))

    def matches(self, path: str, op: str) -> bool:
        """Whether the rule applies to op kind ``op`` at module path ``path``."""
        return (not self.ops or op in self.ops) and re.fullmatch(self.module_path, path) is not None


def check_rules(rules: Any) -> tuple[EmulationRule, ...]:
    """``rules`` as a tuple of :class:`EmulationRule` (TypeError naming the bad entry)."""
    if isinstance(rules, EmulationRule):
        return (rules,)
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
        raise TypeError(f"rules must be a sequence of EmulationRule, got {type(rules).__name__}")
    for i, r in enumerate(rules):
        if not isinstance(r, EmulationRule):
            raise TypeError(f"rules[{i}] must be an EmulationRule, got {type(r).__name__}")
    return tuple(rules)


def match_rule(rules: Sequence[EmulationRule], path: str, op: str) -> int | None:
    """Index of the first rule matching ``(path, op)``, or ``None``."""
    for i, r in enumerate(rules):
        if r.matches(path, op):
            return i
    return None


__all__ = ["DEFAULT", "OP_KINDS", "EmulationRule", "check_rules", "match_rule", "resolve_hw"]

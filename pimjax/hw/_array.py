"""What one slice's multiplier array *is*: ``ArrayConfig`` (docs/design.md section 2).

Memory Slices section 3.2: a 2D array of ``rows`` x ``width`` multipliers, one adder tree per
row; register B is preloaded with a tile of B (one ``width``-chunk of K x up to ``rows``
columns of N), register A shifts down one row per cycle while A streams in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pimjax._checks import int_field
from pimjax.numerics import (
    DEFAULT_STOCHASTIC,
    ROUNDING_MODES,
    FixedFormat,
    FloatFormat,
    StochasticConfig,
    check_format,
)

ACTIVATIONS: tuple[str, ...] = ("identity", "relu")
"""Activations the array's output stage applies exactly (step 5)."""


def _check_rounding(name: str, r: Any) -> None:
    if r not in ROUNDING_MODES:
        raise ValueError(f"{name} must be one of {ROUNDING_MODES}, got {r!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArrayConfig:
    """A systolic multiplier array with one adder tree per row, and its number formats.

    Datapath (docs/design.md section 2, steps 1, 2, 3 and 5): products ``a * b`` exact, optionally
    requantized to ``product_format``; each row's adder tree sums its ``width`` products
    exactly, then requantizes to ``tree_format``; tree outputs accumulate per output element in
    ascending K-chunk order into ``accumulator_format`` (overflow after every addition); the
    accumulator goes through ``activation`` and is requantized to ``output_format``.

    ``None`` means exact (codes pass through). For fixed point, ``accumulator_format`` keeps the
    tree's fraction bits (``a.frac + b.frac`` unless ``tree_format`` or ``product_format``
    changes it) and is checked for that. Float datapaths need a float ``tree_format`` and
    ``accumulator_format`` (every adder rounds to nearest even).

    Args:
      rows: ``R``, rows of the array (columns of B held at once). Memory Slices: 256.
      width: ``W``, multipliers per row (K elements per step). Memory Slices: 8.
      a_format, b_format: formats of the streamed (A) and preloaded (B) operands.
      product_format, tree_format, accumulator_format, output_format: stage formats.
      product_rounding, tree_rounding, output_rounding: rounding per requantizing stage.
      activation: ``"identity"`` or ``"relu"`` (applied to the exact accumulator).
      stochastic: random-word source for ``stochastic`` / ``sr_lo`` stages.
      multiplier_latency, adder_tree_latency: pipeline depths in cycles.
      clock_ghz: array clock in GHz.
      accumulator_buffer_kib: on-slice buffer holding a tile's M x R' partial sums between
        K-chunk passes; a tile whose partial sums do not fit spills them to the slice's DRAM
        (cost model only; pimjax assumption, the papers give no size).
      name: label for reports.
    """

    rows: int
    width: int
    a_format: FixedFormat | FloatFormat
    b_format: FixedFormat | FloatFormat
    accumulator_format: FixedFormat | FloatFormat | None
    output_format: FixedFormat | FloatFormat | None
    product_format: FixedFormat | FloatFormat | None = None
    tree_format: FixedFormat | FloatFormat | None = None
    product_rounding: str = "nearest_even"
    tree_rounding: str = "nearest_even"
    output_rounding: str = "nearest_even"
    activation: str = "identity"
    stochastic: StochasticConfig = DEFAULT_STOCHASTIC
    multiplier_latency: int = 3
    adder_tree_latency: int = 3
    clock_ghz: float = 2.0
    accumulator_buffer_kib: float = 256.0
    name: str = ""

    def __post_init__(self) -> None:
        int_field(self, "rows", 1, 1 << 20)
        int_field(self, "width", 1, 4096)
        for f in ("a_format", "b_format"):
            check_format(f"ArrayConfig.{f}", getattr(self, f))
        for f in ("product_format", "tree_format", "accumulator_format", "output_format"):
            check_format(f"ArrayConfig.{f}", getattr(self, f), allow_exact=True)
        for f in ("product_rounding", "tree_rounding", "output_rounding"):
            _check_rounding(f"ArrayConfig.{f}", getattr(self, f))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"ArrayConfig.activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not isinstance(self.stochastic, StochasticConfig):
            raise TypeError("ArrayConfig.stochastic must be a StochasticConfig")
        for f in ("multiplier_latency", "adder_tree_latency"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1024:
                raise ValueError(f"ArrayConfig.{f} must be an integer in 0..1024, got {v!r}")
        if (isinstance(self.accumulator_buffer_kib, bool) or not isinstance(self.accumulator_buffer_kib, (int, float))
                or not 0 <= self.accumulator_buffer_kib <= 1e9):
            raise ValueError(f"ArrayConfig.accumulator_buffer_kib must be in [0, 1e9], got {self.accumulator_buffer_kib!r}")
        if isinstance(self.clock_ghz, bool) or not isinstance(self.clock_ghz, (int, float)) or not 0 < self.clock_ghz <= 100:
            raise ValueError(f"ArrayConfig.clock_ghz must be in (0, 100], got {self.clock_ghz!r}")
        stages = [self.a_format, self.b_format, self.product_format, self.tree_format,
                  self.accumulator_format, self.output_format]
        kinds = {type(f) for f in stages if f is not None}
        if len(kinds) != 1:
            raise TypeError("ArrayConfig formats must be all FixedFormat or all FloatFormat (None = exact)")
        if self.is_float:
            for f in ("tree_format", "accumulator_format"):
                if getattr(self, f) is None:
                    raise ValueError(f"ArrayConfig.{f} must be a FloatFormat for a float datapath (every adder rounds)")
            for f in ("product_rounding", "tree_rounding", "output_rounding"):
                if getattr(self, f) != "nearest_even":
                    raise ValueError(f"ArrayConfig.{f} must be 'nearest_even' for a float datapath")
            return
        for f in stages:
            if f is not None and not f.is_static:
                return  # traced formats: only pimjax.apps.sweep builds them; the units reject them (TypeError)
        if self.accumulator_format is None:
            raise ValueError("ArrayConfig.accumulator_format must be a FixedFormat for a fixed-point datapath")
        tf = self.tree_frac
        if self.accumulator_format.frac != tf:
            raise ValueError(
                f"ArrayConfig.accumulator_format.frac must equal the adder tree's fraction bits {tf} "
                f"(the accumulator keeps the tree's fraction), got {self.accumulator_format.frac}"
            )
        # The emulation holds exact products, tree sums and accumulator + tree sums in int64:
        # bound their magnitudes (a bit count is not enough: unsigned x unsigned products of
        # a + b bits need a + b + 1 signed bits).
        def mag(f: FixedFormat) -> int:
            return max(-f.min_code, f.max_code)

        raw = mag(self.a_format) * mag(self.b_format)
        if raw >= 1 << 63:
            raise ValueError(
                f"exact products of ArrayConfig.a_format {self.a_format} and ArrayConfig.b_format "
                f"{self.b_format} reach {raw} >= 2**63 and do not fit int64: narrow an operand format"
            )
        tree_sum = self.width * (mag(self.product_format) if self.product_format is not None else raw)
        tree_out = mag(self.tree_format) if self.tree_format is not None else tree_sum
        acc_sum = tree_out + mag(self.accumulator_format)
        if max(tree_sum, acc_sum) >= 1 << 63:
            raise ValueError(
                f"exact adder-tree sums ({self.exact_tree_bits} bits, magnitude up to {tree_sum}) plus "
                f"the accumulator do not fit int64: set ArrayConfig.product_format or "
                "ArrayConfig.tree_format to a narrower format"
            )

    @property
    def is_float(self) -> bool:
        return isinstance(self.a_format, FloatFormat)

    @property
    def product_frac(self) -> int:
        """Fraction bits of the products after the product stage."""
        if self.product_format is not None:
            return self.product_format.frac
        return self.a_format.frac + self.b_format.frac

    @property
    def tree_frac(self) -> int:
        """Fraction bits of the adder-tree outputs (= the accumulator's)."""
        if self.tree_format is not None:
            return self.tree_format.frac
        return self.product_frac

    @property
    def product_bits(self) -> int:
        """Width of a product after the product stage (exact: sum of operand widths)."""
        if self.product_format is not None:
            return self.product_format.bits
        return self.a_format.bits + self.b_format.bits

    @property
    def exact_tree_bits(self) -> int:
        """Width that an exact sum of ``width`` products needs."""
        return self.product_bits + max(0, (self.width - 1).bit_length())

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.width

    def replace(self, **changes: Any) -> "ArrayConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)

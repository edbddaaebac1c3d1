"""Mapping of a matmul onto slices: K-partition and output ownership (Memory Slices Fig. 5).

``C = A @ B`` with A (M x K) streamed and B (K x N) preloaded. Slice ``s`` holds the K-range
``k_ranges[s]`` of A's columns and B's rows, runs it on its own array in tiles of ``width``
(along K) x ``rows`` (along N), and sends its partial sums to the owners of the output column
tiles. Training needs two mappings of the same weights (Memory Slices Sec. 5.1): forward-
friendly (``W`` is B of ``X @ W``: W's rows split) and backward-friendly (``W.T`` is B of
``dY @ W.T``: W's columns split).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from pimjax._checks import check_int, int_field


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mapping:
    """Which K-range each slice holds and which slice owns each output column tile.

    Attributes:
      k: the common dimension K.
      n: output columns N.
      k_ranges: ``(start, stop)`` per slice: contiguous, ascending, covering ``[0, k)``
        exactly (a slice may hold an empty range).
      tile_cols: columns per output tile (the array's rows R).
      owners: owner slice of each output column tile (``ceil(n / tile_cols)`` entries).
    """

    k: int
    n: int
    k_ranges: tuple[tuple[int, int], ...]
    tile_cols: int
    owners: tuple[int, ...]

    def __post_init__(self) -> None:
        for f in ("k", "n", "tile_cols"):
            int_field(self, f, 1)
        if not self.k_ranges:
            raise ValueError("Mapping.k_ranges must name at least one slice")
        pos = 0
        for s, rng in enumerate(self.k_ranges):
            if len(rng) != 2:
                raise ValueError(f"Mapping.k_ranges[{s}] must be a (start, stop) pair, got {rng!r}")
            a, b = rng
            if a != pos:
                what = "overlaps the previous range" if a < pos else f"leaves K elements {pos}..{a - 1} unmapped"
                raise ValueError(f"Mapping.k_ranges[{s}] = {rng} {what}; ranges must tile [0, {self.k}) in order")
            if b < a:
                raise ValueError(f"Mapping.k_ranges[{s}] = {rng} has stop < start")
            pos = b
        if pos != self.k:
            raise ValueError(f"Mapping.k_ranges end at {pos}, but K = {self.k}: K elements {pos}..{self.k - 1} unmapped"
                             if pos < self.k else f"Mapping.k_ranges end at {pos}, beyond K = {self.k}")
        if len(self.owners) != self.n_tiles:
            raise ValueError(f"Mapping.owners must have {self.n_tiles} entries (one per output tile), got {len(self.owners)}")
        for t, o in enumerate(self.owners):
            if not 0 <= o < self.num_slices:
                raise ValueError(f"Mapping.owners[{t}] = {o} is not a slice index in 0..{self.num_slices - 1}")

    @property
    def num_slices(self) -> int:
        return len(self.k_ranges)

    @property
    def n_tiles(self) -> int:
        return -(-self.n // self.tile_cols)

    @property
    def k_sizes(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in self.k_ranges)

    def tile_columns(self, t: int) -> tuple[int, int]:
        """Column range ``[start, stop)`` of output tile ``t``."""
        return t * self.tile_cols, min(self.n, (t + 1) * self.tile_cols)

    @classmethod
    def even(cls, *, k: int, n: int, num_slices: int, width: int, rows: int) -> "Mapping":
        """Even split of K in whole ``width``-chunks; output tiles owned round-robin... by block.

        The ``ceil(k / width)`` chunks go to the slices as evenly as possible (earlier slices
        take the extra chunk); output tiles of ``rows`` columns are owned in contiguous blocks,
        tile ``t`` by slice ``t * num_slices // n_tiles``.
        """
        for name, v in (("k", k), ("n", n), ("num_slices", num_slices), ("width", width), ("rows", rows)):
            check_int(f"Mapping.even: {name}", v, 1)
        chunks = -(-k // width)
        base, extra = divmod(chunks, num_slices)
        ranges, c = [], 0
        for s in range(num_slices):
            nc = base + (1 if s < extra else 0)
            ranges.append((min(k, c * width), min(k, (c + nc) * width)))
            c += nc
        n_tiles = -(-n // rows)
        owners = tuple(t * num_slices // n_tiles for t in range(n_tiles))
        return cls(k=k, n=n, k_ranges=tuple(ranges), tile_cols=rows, owners=owners)

    @classmethod
    def explicit(cls, *, k: int, n: int, k_ranges: Sequence[Sequence[int]], rows: int,
                 owners: Sequence[int] | None = None) -> "Mapping":
        """A user's K-ranges (validated) with default or given owners."""
        for name, v in (("n", n), ("rows", rows)):
            check_int(f"Mapping.explicit: {name}", v, 1)
        ranges = []
        for i, kr in enumerate(k_ranges):
            if len(kr) != 2:
                raise ValueError(f"Mapping.explicit: k_ranges[{i}] must be a pair (start, stop), got {kr!r}")
            ranges.append(tuple(check_int(f"Mapping.explicit: k_ranges[{i}][{j}]", v, 0) for j, v in enumerate(kr)))
        ranges = tuple(ranges)
        n_tiles = -(-n // rows)
        if owners is None:
            owners = tuple(t * len(ranges) // n_tiles for t in range(n_tiles))
        owners = tuple(check_int(f"Mapping.explicit: owners[{t}]", o, 0) for t, o in enumerate(owners))
        return cls(k=k, n=n, k_ranges=ranges, tile_cols=rows, owners=owners)

    def __str__(self) -> str:
        lines = [f"Mapping: K={self.k} over {self.num_slices} slices, N={self.n} in {self.n_tiles} tiles of {self.tile_cols}"]
        for s, (a, b) in enumerate(self.k_ranges):
            tiles = [t for t, o in enumerate(self.owners) if o == s]
            if not tiles:
                own = "no tiles"
            elif tiles == list(range(tiles[0], tiles[-1] + 1)):
                own = f"tiles {tiles[0]}..{tiles[-1]}"
            else:  # explicit owners need not be contiguous
                own = "tiles " + ", ".join(map(str, tiles))
            lines.append(f"  slice {s:3d}: K[{a}:{b}] ({b - a} elems), owns {own}")
        return "\n".join(lines)


def weight_mappings(*, in_features: int, out_features: int, num_slices: int, width: int,
                    rows: int) -> tuple[Mapping, Mapping]:
    """Forward- and backward-friendly mappings of a weight ``W`` (in x out), Memory Slices 5.1.

    Forward ``Y = X @ W``: K = in_features (W's rows split across slices). Backward
    ``dX = dY @ W.T``: K = out_features (W's columns split). Both copies are kept ("mapping
    two copies of each matrix during programming phase", the paper's preferred option).
    """
    fwd = Mapping.even(k=in_features, n=out_features, num_slices=num_slices, width=width, rows=rows)
    bwd = Mapping.even(k=out_features, n=in_features, num_slices=num_slices, width=width, rows=rows)
    return fwd, bwd

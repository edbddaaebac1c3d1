"""Configurations of the schedulers (frozen, keyword-only, validated at construction).

Hardware numbers and where they come from:

* shared buffer: "current PIM architecture can only provide 100-300KB cache capacity for the
  entire PE array" (Memolution Sec. 2.4, citing Eyeriss [6]); :data:`DEFAULT_BUFFER_BYTES` is
  128 KiB, inside that range;
* eDRAM vs buffer: "fetching data from eDRAM vault costs two times or more access latency than
  that from the PE array's global buffer" (Memolution Sec. 3.2); :class:`Latencies` defaults to
  exactly two times;
* eDRAM bandwidth of a PE: the memory bank of one slice of the chosen system preset (default
  ``slices_hmc2``: one HMC 2.0 vault, 10 GB/s, ``pimjax.hw.HMC2_VAULT``, Memory Slices Sec. 8).

>>> ScheduleConfig(num_pes=32, buffer_bytes=128 * 1024, images=64).num_pes
32
>>> parse_bytes("128KiB"), parse_bytes("0.5MB"), parse_bytes("4096")
(131072, 500000, 4096)
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

#: 128 KiB: inside the 100-300 KB of Memolution Sec. 2.4 ("current PIM architecture can only
#: provide 100-300KB cache capacity for the entire PE array").
DEFAULT_BUFFER_BYTES = 128 * 1024

#: Memolution Sec. 3.2: eDRAM costs "two times or more access latency" than the buffer.
DEFAULT_CACHE_SPEEDUP = 2.0

#: Images (iterations of the graph) of the default run. The paper does not state its count;
#: 1024 gives Memolution at least 8 rounds of its iteration on 128 PEs (32 groups x 4 images),
#: so that its prologue and group stagger, which the paper calls negligible (Sec. 4.2 item 4),
#: are amortized as in a long-running stream.
DEFAULT_IMAGES = 1024

EDRAM_ORDERS: tuple[str, ...] = ("ascending", "descending")

#: Upper limits of :class:`ScheduleConfig` and :class:`Latencies` (the command line checks the same).
MAX_PES = 1 << 16
MAX_IMAGES = 10**6
MAX_BUFFER_BYTES = 1 << 62
MAX_CACHE_SPEEDUP = 1e6


def _int_field(cls: str, name: str, v: Any, lo: int, hi: int = 1 << 62) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{cls}.{name} must be an integer, got {type(v).__name__} {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{cls}.{name} must be in {lo}..{hi}, got {v}")


def _num_field(cls: str, name: str, v: Any, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TypeError(f"{cls}.{name} must be a finite number, got {v!r}")
    if (v <= lo if lo_open else v < lo) or v > hi:
        raise ValueError(f"{cls}.{name} must be in {'(' if lo_open else '['}{lo}, {hi}], got {v}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """The platform and the workload that both schedulers get (Memolution Sec. 2.2-2.3).

    Args:
      num_pes: ``P``, processing engines (1..65536).
      buffer_bytes: ``C``, capacity of the PEs' shared (global) buffer in bytes (>= 0).
      images: input images to process, one iteration of the graph each (1..10**6).
    """

    num_pes: int
    buffer_bytes: int = DEFAULT_BUFFER_BYTES
    images: int = DEFAULT_IMAGES

    def __post_init__(self) -> None:
        _int_field("ScheduleConfig", "num_pes", self.num_pes, 1, MAX_PES)
        _int_field("ScheduleConfig", "buffer_bytes", self.buffer_bytes, 0, MAX_BUFFER_BYTES)
        _int_field("ScheduleConfig", "images", self.images, 1, MAX_IMAGES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemolutionOptions:
    """Choices inside Memolution (see :func:`memolution_schedule` for what each step does).

    Args:
      merge: apply the vertex merge of Sec. 3.3 (sequential and parallel merge).
      group_size: PEs per group ``q``; ``None``: try ``n`` and ``n + 1`` (Sec. 3.4, ``n`` the
        widest level of the merged graph) and keep the faster.
      edram_order: order in which Alg. 3.2 moves results to eDRAM: ``"ascending"``
        ``Delta L / Delta C`` (cheapest prologue per byte first, pimjax's default) or
        ``"descending"`` (the literal text of Alg. 3.2 line 11).
      max_rotations: at most this many rotation offsets are tried for the complement phase.
      max_retiming: largest retiming value ``R`` of any operation (>= 0). Theorem 3.1 bounds the
        relative retiming of every result by 1 and the paper concludes that "the maximum iteration
        added to the initial schedule is only one iteration of time" (Sec. 3.2): default 1.
        A result whose move to eDRAM would exceed it is instead given ``L_RAM`` in a rebuilt
        iteration (no retiming).
    """

    merge: bool = True
    group_size: int | None = None
    edram_order: str = "ascending"
    max_rotations: int = 64
    max_retiming: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.merge, bool):
            raise TypeError(f"MemolutionOptions.merge must be a bool, got {self.merge!r}")
        if self.group_size is not None:
            _int_field("MemolutionOptions", "group_size", self.group_size, 1, 1 << 16)
        if self.edram_order not in EDRAM_ORDERS:
            raise ValueError(f"MemolutionOptions.edram_order must be one of {EDRAM_ORDERS}, got {self.edram_order!r}")
        _int_field("MemolutionOptions", "max_rotations", self.max_rotations, 1, 1 << 16)
        _int_field("MemolutionOptions", "max_retiming", self.max_retiming, 0, 1 << 16)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Latencies:
    """How an intermediate result's size becomes its latencies ``L_RAM`` and ``L_cache``.

    ``L_RAM(I) = ram_access_s + 2 * bytes / ram_bandwidth`` (the producer writes the result to
    the eDRAM bank and the consumer reads it back), ``L_cache(I) = cache_access_s + (L_RAM(I) -
    ram_access_s) / cache_speedup``; both rounded up to whole ticks.

    Args:
      ram_bandwidth_gbps: eDRAM bandwidth seen by one PE in GB/s; ``None``: the slice memory
        bandwidth of the system preset (``slices_hmc2``: 10 GB/s, HMC 2.0 vault).
      cache_speedup: how many times faster the shared buffer is (Memolution Sec. 3.2: "two
        times or more"; >= 1). ``math.inf`` makes ``L_cache`` the fixed access latency alone,
        the reading of Sec. 3.1: "If an intermediate processing result can be allocated to the
        PE's on-chip cache, no time delay will be incurred for the coming convolution operation".
      ram_access_s, cache_access_s: fixed access latencies in seconds (default 0: the papers give
        no number; ``cache_access_s <= ram_access_s``).
      time_unit_s: seconds per tick of the graph (default 1 ns).
    """

    ram_bandwidth_gbps: float | None = None
    cache_speedup: float = DEFAULT_CACHE_SPEEDUP
    ram_access_s: float = 0.0
    cache_access_s: float = 0.0
    time_unit_s: float = 1e-9

    def __post_init__(self) -> None:
        if self.ram_bandwidth_gbps is not None:
            _num_field("Latencies", "ram_bandwidth_gbps", self.ram_bandwidth_gbps, 0.0, 1e6, lo_open=True)
        if self.cache_speedup != math.inf:  # inf: L_cache = cache_access_s (Sec. 3.1: "no time delay")
            _num_field("Latencies", "cache_speedup", self.cache_speedup, 1.0, MAX_CACHE_SPEEDUP)
        _num_field("Latencies", "ram_access_s", self.ram_access_s, 0.0, 1.0)
        _num_field("Latencies", "cache_access_s", self.cache_access_s, 0.0, 1.0)
        if self.cache_access_s > self.ram_access_s:
            raise ValueError(f"Latencies.cache_access_s ({self.cache_access_s}) must be <= ram_access_s "
                             f"({self.ram_access_s})")
        _num_field("Latencies", "time_unit_s", self.time_unit_s, 0.0, 1.0, lo_open=True)

    def ticks(self, seconds: float) -> int:
        """``seconds`` rounded up to whole ticks."""
        return int(math.ceil(seconds / self.time_unit_s - 1e-9))

    def of(self, nbytes: int, ram_bandwidth_gbps: float) -> tuple[int, int]:
        """``(L_cache, L_RAM)`` in ticks of a result of ``nbytes`` bytes."""
        bw = (self.ram_bandwidth_gbps or ram_bandwidth_gbps) * 1e9
        transfer = 2.0 * nbytes / bw
        l_ram = self.ticks(self.ram_access_s + transfer)
        l_cache = min(l_ram, self.ticks(self.cache_access_s + transfer / self.cache_speedup))
        return l_cache, l_ram


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "k": 1024, "m": 1024**2,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_bytes(text: str | int) -> int:
    """A size in bytes from text such as ``"128KiB"``, ``"0.5MB"``, ``"300kb"`` or ``"4096"``.

    Args:
      text: a number with an optional unit (B, KB = 1000, KiB = K = 1024, MB, MiB = M, GB,
        GiB; any case), or an integer.

    Returns:
      The bytes.

    Raises:
      ValueError: not a size, or negative.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"a size must be >= 0 bytes, got {text}")
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 131072, 128KiB, 128K, 0.5MB)")
    return int(round(float(m.group(1)) * _UNITS[m.group(2).lower()]))

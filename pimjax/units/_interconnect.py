"""The interconnect packetizer: packets, bytes and hops of a slice system's partial sums.

Memory Slices Sec. 3.2 and Fig. 6 step 5: the adder trees of a slice emit, each cycle, one
partial sum per row for a diagonal of the output tile ((0,2), (1,3), (2,4), ...); the network
interface coalesces the elements of a cycle bound for the same slice into packets that carry
only the first element's index and the count (the others follow from the diagonal), and routes
packets to the local port when source and destination coincide.

For an output tile of ``R'`` columns and ``M`` rows, the final pass emits
``n_c = min(c + 1, R', M, M + R' - 1 - c)`` elements at cycle ``c`` (``0 <= c < M + R' - 1``),
in ``ceil(n_c / e)`` packets of at most ``e = payload_bytes // element_bytes`` elements, each
with ``header_bytes`` of header.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pimjax.hw._system import SystemConfig
from typing import Sequence


class ICNCounts(NamedTuple):
    """Interconnect traffic of one system matmul (Python ints; jnp scalars once traced)."""

    packets: int  # packets that crossed the ICN
    local_packets: int  # packets delivered to the local port (source == owner)
    bytes: int  # bytes (headers + payload) that crossed the ICN
    hop_bytes: int  # sum over ICN packets of bytes x hops
    hops: int  # sum over ICN packets of hops
    elements: int  # partial sums sent (ICN + local)


def tile_packets(m: int, r: int, elems_per_packet: int) -> int:
    """Packets for one ``m`` x ``r`` output tile with per-cycle diagonal coalescing."""
    c = np.arange(m + r - 1, dtype=np.int64)
    n = np.minimum(np.minimum(c + 1, r), np.minimum(m, m + r - 1 - c))
    return int(np.sum(-(-n // elems_per_packet)))


def packetize_per_slice(*, k_sizes: Sequence[int], owners: Sequence[int], n: int, tile_cols: int,
                        m: int, cfg: SystemConfig) -> list[ICNCounts]:
    """Traffic sent by each source slice to the owners of the output tiles.

    Args:
      k_sizes: K elements held by each slice (a slice with none sends nothing).
      owners: owner slice of each output tile of ``tile_cols`` columns.
      n, m: output columns and rows.
      cfg: the system (packet element size, ICN).
    """
    icn = cfg.interconnect
    eb = cfg.packet_element_bytes
    epp = icn.payload_bytes // eb
    if epp < 1:
        raise ValueError(
            f"InterconnectConfig.payload_bytes ({icn.payload_bytes}) is smaller than one element ({eb} bytes)"
        )
    s_count = len(k_sizes)
    cache: dict[int, int] = {}
    out = []
    for s, size in enumerate(k_sizes):
        packets = local = nbytes = hop_bytes = hops = elems = 0
        if size:  # a slice with no K elements sends nothing
            for t, owner in enumerate(owners):
                r = min(n, (t + 1) * tile_cols) - t * tile_cols
                if r not in cache:
                    cache[r] = tile_packets(m, r, epp)
                p = cache[r]
                e = m * r
                elems += e
                if owner == s:
                    local += p
                    continue
                h = icn.hops(s, owner, s_count)
                b = p * icn.header_bytes + e * eb
                packets += p
                nbytes += b
                hops += p * h
                hop_bytes += b * h
        out.append(ICNCounts(packets, local, nbytes, hop_bytes, hops, elems))
    return out


def packetize(*, k_sizes: Sequence[int], owners: Sequence[int], n: int, tile_cols: int, m: int,
              cfg: SystemConfig) -> ICNCounts:
    """Total traffic of all slices (see :func:`packetize_per_slice`)."""
    per = packetize_per_slice(k_sizes=k_sizes, owners=owners, n=n, tile_cols=tile_cols, m=m, cfg=cfg)
    return ICNCounts(*(sum(c[i] for c in per) for i in range(len(ICNCounts._fields))))

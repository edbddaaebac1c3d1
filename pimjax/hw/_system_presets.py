"""System presets: Memory Slices baseline and balanced slices on HMC 1.0, HMC 2.0 and HBM, and
the NeuroTrainer module (15 PEs). Registered in :mod:`pimjax.hw.presets`.

Memory Slices Sec. 6 defines "eight system configurations" (its Table 2): four baseline ones
that use the Table 1 slice (the 256 x 8 16-bit array) and four balanced ones with "up to 2.5x
compute units/slice"; each slice is one HMC vault or one HBM channel. Table 2's slice counts are
not in the source text: pimjax uses 512 slices for the baseline systems (the paper's LSTM1 runs
"512 slices of HMC2.0") and 128 for the balanced ones ("only 128 slices of HMC1.0 2x").

Cost-model choices (they change no emulated result): Memory Slices systems deal the ``8 x 256``
partitions of B to the slices in order (Sec. 4.1, Table 4; ``partitioning="partitions"``) and
spread each output tile's aggregation over the slices that reduce it by diagonals (the unit the
network interface packetizes, Sec. 3.2 / Fig. 6 step 5; ``ownership="diagonal"``).

Buffers: the paper's slice has none. Sec. 3.2: "As registers themselves can play the role of
buffers in permitting intermediate offdie memory latency, therefore, we do not use buffers."
pimjax gives every Memory Slices slice two 256 KiB on-slice buffers for partial sums, both
pimjax assumptions (cost model only; no size is in the paper): the array's accumulator buffer
(``ArrayConfig.accumulator_buffer_kib`` of the ``memory_slices`` array: one 256 x 256 block of
32-bit partial sums) and the aggregation engine's buffer for running sums (the same size); they
stand in for the registers and the aggregation engine that keep partial sums off the vault
(their effect is a labelled assumption of every fidelity row, ``docs/fidelity.md``). A slice
has no weight buffer (``weight_buffer_kib=0``): its weights live in register B only, and a slice
holding several partitions of a layer reloads them from its vault at every call (Sec. 7.2:
"reloading weights to registers iteratively"). A 256 KiB weight buffer is an opt-in what-if
(``preset.replace(weight_buffer_kib=256)``), not the paper's design.

The interconnect's topology and sizes are pimjax assumptions too: the text says only that the
ICN is wormhole switched (Sec. 3.1), that the network interface coalesces elements for one
destination into a packet addressed by its first element (Sec. 3.2, Fig. 6 step 5) and that
the network has 256 nodes (Sec. 3.2); its details are in the paper's Table 1, which is not in
the source text. The NeuroTrainer module runs its own data flow (``partitioning="output_split"``,
Sec. 3.1 / 3.3) on its 32-bit, 10 GB/s bus (Sec. 3.4, Table 5).

Compute energy of every preset comes from NeuroTrainer Table 1 through
:func:`pimjax.hw.table1_energy` (the MAC's power per product, accumulate included).
"""

from __future__ import annotations

from pimjax.hw._energy import table1_energy
from pimjax.hw._memory import HBM_CHANNEL, HMC1_VAULT, HMC2_VAULT, NEUROTRAINER_VAULT
from pimjax.hw._presets import get, register
from pimjax.hw._system import AggregationConfig, InterconnectConfig, SystemConfig
from pimjax.numerics import FixedFormat

_AGG16 = AggregationConfig(
    packet_format=FixedFormat(bits=32, frac=16),  # partial sums travel at accumulator width
    accumulator_format=FixedFormat(bits=32, frac=16),
    output_format=FixedFormat(bits=16, frac=8),  # written back as 16-bit words (Table 1: 16-bit)
    # pimjax assumption: one 256 x 256 block of 32-bit running sums (no size in the paper, which
    # uses no buffers, Sec. 3.2)
    buffer_kib=256.0,
)


def _slices(name: str, memory, num_slices: int, compute_scale: float) -> SystemConfig:
    array = get("memory_slices")
    return SystemConfig(
        array=array,
        num_slices=num_slices,
        aggregation=_AGG16,
        # Memory Slices Sec. 3.1: a "wormhole switched interslice communication network (ICN)";
        # Sec. 3.2: coalesced packets, "the 256node network". Its topology, packet and link sizes
        # are in Table 1, not in the source text: every number here is a pimjax assumption.
        interconnect=InterconnectConfig(
            topology="mesh",  # pimjax assumption: 2-D mesh, XY routing
            payload_bytes=64,  # pimjax assumption
            header_bytes=8,  # pimjax assumption: first element's index and the count (Fig. 6 step 5)
            link_bytes_per_cycle=16,  # pimjax assumption
            hop_latency=2,  # pimjax assumption: cycles per router hop
        ),
        memory=memory,
        # pimjax stand-in: Memory Slices' compute power comes from McPAT (Sec. 6) and no per-operation
        # number is in the text; NeuroTrainer Table 1's Fixed 32/16 MAC in its 16-bit mode
        # (2.27 mW / 2.5 GHz / 2 pairs = 0.454 pJ per 16-bit product, accumulate included)
        energy=table1_energy(array),
        compute_scale=compute_scale,
        partitioning="partitions",  # Sec. 4.1 / Table 4: W x R partitions mapped sequentially to the slices
        ownership="diagonal",  # Sec. 3.2 / Fig. 6 step 5: a diagonal of outputs per cycle, one packet
        # Sec. 3.2 "we do not use buffers": no weight buffer; register B holds one partition
        weight_buffer_kib=0.0,
        name=name,
    )


@register("slices_hmc2")
def slices_hmc2() -> SystemConfig:
    """Memory Slices baseline on HMC 2.0 vaults, 512 slices (Sec. 6, Sec. 7.1 LSTM1)."""
    return _slices("slices_hmc2", HMC2_VAULT, 512, 1.0)


@register("slices_hmc1")
def slices_hmc1() -> SystemConfig:
    """Memory Slices baseline on HMC 1.0 vaults, 512 slices (Sec. 6)."""
    return _slices("slices_hmc1", HMC1_VAULT, 512, 1.0)


@register("slices_hbm")
def slices_hbm() -> SystemConfig:
    """Memory Slices baseline on HBM channels, 512 slices (Sec. 6)."""
    return _slices("slices_hbm", HBM_CHANNEL, 512, 1.0)


@register("slices_hmc1_2x")
def slices_hmc1_2x() -> SystemConfig:
    """Memory Slices balanced: HMC 1.0 with 2x compute per slice, 128 slices (Sec. 7.1)."""
    return _slices("slices_hmc1_2x", HMC1_VAULT, 128, 2.0)  # Sec. 7.1: "128 slices of HMC1.0 2x"


@register("slices_hbm_2.5x")
def slices_hbm_2_5x() -> SystemConfig:
    """Memory Slices balanced: HBM with 2.5x compute per slice, 128 slices (Sec. 6)."""
    return _slices("slices_hbm_2.5x", HBM_CHANNEL, 128, 2.5)  # Sec. 6: "up to 2.5x compute units/slice"


@register("slices_hmc2_2x")
def slices_hmc2_2x() -> SystemConfig:
    """Memory Slices balanced: HMC 2.0 with 2x compute per slice, 128 slices (Sec. 6)."""
    return _slices("slices_hmc2_2x", HMC2_VAULT, 128, 2.0)


def _neurotrainer(name: str, pe: str) -> SystemConfig:
    array = get(pe)
    return SystemConfig(
        array=array,
        num_slices=15,  # NeuroTrainer Sec. 5: 15 PEs (16 vaults, one shared)
        aggregation=AggregationConfig(
            packet_format=None,
            accumulator_format=array.accumulator_format,
            output_format=array.output_format,
        ),
        # NeuroTrainer Sec. 3.4: a shared bus (Table 5: "32bit Bus") "with a bandwidth same as that of
        # a single vault (10GBps)": 10 GB/s at 2.5 GHz = 4 bytes/cycle; "4 stage pipelined BUS
        # interface [27]; it takes 4 clock cycle between a vault to any PE"
        interconnect=InterconnectConfig(
            topology="crossbar",  # one hop from the common vault to any PE (a bus, Sec. 3.4)
            link_bytes_per_cycle=4,
            hop_latency=4,
            # pimjax assumption: bus transfers counted in 64-byte bursts (icn_packets only; the
            # paper gives no burst size); header_bytes is not used by the output-split model
            payload_bytes=64,
        ),
        memory=NEUROTRAINER_VAULT,
        partitioning="output_split",  # NeuroTrainer Sec. 3.1 / 3.3.4: hybrid data flow, outputs split over PEs
        # NeuroTrainer Table 1 (see pimjax.hw.table1_energy): FF: Fixed 32/16 in 16-bit mode,
        # 2.27 mW / 2.5 GHz / 2 pairs = 0.454 pJ per product; BP/UP: Fixed 32/16 SR, 5.79 mW /
        # 2.5 GHz = 2.316 pJ per 32-bit product; the accumulate is part of the MAC (add_pj = 0)
        energy=table1_energy(array),
        # NeuroTrainer Sec. 3.4 / 5.1: outputs written back after the PE's compute ("writing back
        # [from all PEs to a single vault] becomes bottleneck" in FC3 BP)
        write_back="after_compute",
        name=name,
    )


@register("neurotrainer_module_ff")
def neurotrainer_module_ff() -> SystemConfig:
    """NeuroTrainer module, 16-bit FF: 15 PEs x 32 MACs x 2 pairs @ 2.5 GHz = 4.8 TOPS (Sec. 5)."""
    return _neurotrainer("neurotrainer_module_ff", "neurotrainer_ff")


@register("neurotrainer_module_bp")
def neurotrainer_module_bp() -> SystemConfig:
    """NeuroTrainer module, 32-bit SR for BP/UP: 15 PEs x 32 MACs @ 2.5 GHz = 2.4 TOPS (Sec. 5)."""
    return _neurotrainer("neurotrainer_module_bp", "neurotrainer_bp")  # Table 1: Fixed 32/16 SR, 2.316 pJ

"""System presets: Memory Slices baseline and balanced slices on HMC 1.0, HMC 2.0 and HBM, and
the NeuroTrainer module (15 PEs). Registered in :mod:`pimjax.hw.presets`.

Memory Slices Sec. 6 defines "eight system configurations" (its Table 2): four baseline ones
that use the Table 1 slice (the 256 x 8 16-bit array) and four balanced ones with "up to 2.5x
compute units/slice"; each slice is one HMC vault or one HBM channel. Table 2's slice counts are
not in the source text: pimjax uses 512 slices for the baseline systems (the paper's LSTM1 runs
"512 slices of HMC2.0") and 128 for the balanced ones ("only 128 slices of HMC1.0 2x").

Cost-model choices (they change no emulated result): Memory Slices systems deal the ``8 x 256``
partitions of B to the slices in order (Sec. 4.1, Table 4; ``partitioning="partitions"``),
spread each output tile's aggregation over the slices that reduce it by diagonals (the unit the
network interface packetizes, Sec. 3.2 / Fig. 6 step 5; ``ownership="diagonal"``), give the
aggregation engine a 256 KiB buffer for running sums (the array's own accumulator buffer size:
one 256 x 256 block of 32-bit sums; the paper gives no size) and no weight buffer (Sec. 3.2:
"we do not use buffers"; weights stay only in register B). The NeuroTrainer module runs its own
data flow (``partitioning="output_split"``, Sec. 3.1 / 3.3) on its 32-bit, 10 GB/s bus
(Sec. 3.4).
"""

from __future__ import annotations

from pimjax.hw._memory import HBM_CHANNEL, HMC1_VAULT, HMC2_VAULT, NEUROTRAINER_VAULT, EnergyConfig
from pimjax.hw._presets import get, register
from pimjax.hw._system import AggregationConfig, InterconnectConfig, SystemConfig
from pimjax.numerics import FixedFormat

_AGG16 = AggregationConfig(
    packet_format=FixedFormat(bits=32, frac=16),  # partial sums travel at accumulator width
    accumulator_format=FixedFormat(bits=32, frac=16),
    output_format=FixedFormat(bits=16, frac=8),  # written back as 16-bit words (Table 1: 16-bit)
    buffer_kib=256.0,  # pimjax assumption: one 256 x 256 block of 32-bit running sums (no size in the paper)
)


def _slices(name: str, memory, num_slices: int, compute_scale: float) -> SystemConfig:
    return SystemConfig(
        array=get("memory_slices"),
        num_slices=num_slices,
        aggregation=_AGG16,
        interconnect=InterconnectConfig(topology="mesh"),  # Memory Slices Sec. 3.2: 256-node wormhole network
        memory=memory,
        compute_scale=compute_scale,
        partitioning="partitions",  # Sec. 4.1 / Table 4: W x R partitions mapped sequentially to the slices
        ownership="diagonal",  # Sec. 3.2 / Fig. 6 step 5: a diagonal of outputs per cycle, one packet
        weight_buffer_kib=256.0,  # pimjax assumption: the accumulator buffer's size (see the module docstring)
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
    return SystemConfig(
        array=get(pe),
        num_slices=15,  # NeuroTrainer Sec. 5: 15 PEs (16 vaults, one shared)
        aggregation=AggregationConfig(
            packet_format=None,
            accumulator_format=get(pe).accumulator_format,
            output_format=get(pe).output_format,
        ),
        # NeuroTrainer Sec. 3.4: a shared 32-bit bus "with a bandwidth same as that of a single vault
        # (10GBps)" at 2.5 GHz (4 bytes/cycle), "4 stage pipelined ... 4 clock cycle between a vault to any PE"
        interconnect=InterconnectConfig(topology="crossbar", link_bytes_per_cycle=4, hop_latency=4),
        memory=NEUROTRAINER_VAULT,
        partitioning="output_split",  # NeuroTrainer Sec. 3.1 / 3.3.4: hybrid data flow, outputs split over PEs
        energy=EnergyConfig(mac_pj=0.908),  # NeuroTrainer Table 1: Fixed 32/16, 2.27 mW @ 2.5 GHz
        name=name,
    )


@register("neurotrainer_module_ff")
def neurotrainer_module_ff() -> SystemConfig:
    """NeuroTrainer module, 16-bit FF: 15 PEs x 32 MACs x 2 pairs @ 2.5 GHz = 4.8 TOPS (Sec. 5)."""
    return _neurotrainer("neurotrainer_module_ff", "neurotrainer_ff")


@register("neurotrainer_module_bp")
def neurotrainer_module_bp() -> SystemConfig:
    """NeuroTrainer module, 32-bit SR for BP/UP: 15 PEs x 32 MACs @ 2.5 GHz = 2.4 TOPS (Sec. 5)."""
    cfg = _neurotrainer("neurotrainer_module_bp", "neurotrainer_bp")
    return cfg.replace(energy=EnergyConfig(mac_pj=2.316))  # Table 1: Fixed 32/16 SR, 5.79 mW @ 2.5 GHz

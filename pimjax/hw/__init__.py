"""What the hardware *is*: frozen, validated configuration dataclasses and paper presets.

>>> from pimjax import hw
>>> cfg = hw.presets.get("memory_slices")
>>> cfg.rows, cfg.width
(256, 8)
"""

from pimjax.hw import _presets as presets
from pimjax.hw import _system_presets  # noqa: F401  (registers the system presets)
from pimjax.hw._array import ACTIVATIONS, ArrayConfig
from pimjax.hw._memory import HBM_CHANNEL, HMC1_VAULT, HMC2_VAULT, NEUROTRAINER_VAULT, EnergyConfig, MemoryConfig
from pimjax.hw._energy import TABLE1_CLOCK_GHZ, TABLE1_MAC_MW, table1_design, table1_energy
from pimjax.hw._system import (
    SYSTEM_ACTIVATIONS,
    TOPOLOGIES,
    AggregationConfig,
    InterconnectConfig,
    LUTConfig,
    SystemConfig,
)

__all__ = [
    "ACTIVATIONS",
    "SYSTEM_ACTIVATIONS",
    "TOPOLOGIES",
    "HBM_CHANNEL",
    "HMC1_VAULT",
    "HMC2_VAULT",
    "NEUROTRAINER_VAULT",
    "AggregationConfig",
    "ArrayConfig",
    "EnergyConfig",
    "MemoryConfig",
    "InterconnectConfig",
    "LUTConfig",
    "SystemConfig",
    "presets",
    "TABLE1_CLOCK_GHZ",
    "TABLE1_MAC_MW",
    "table1_design",
    "table1_energy",
]

# AMD multi-PIM paper (Table 1): host / PIM / node configs; importing the module registers
# the presets "Host_4_160" ... "Host_8_1280", "4PIM", "8PIM".
from pimjax.hw import _pim  # noqa: E402
from pimjax.hw._pim import HOST_PRESETS, NODE_PRESETS, HostConfig, NodeConfig, PIMConfig  # noqa: E402

__all__ += ["HOST_PRESETS", "NODE_PRESETS", "HostConfig", "NodeConfig", "PIMConfig"]

# Yang & Sze: Gaussian noise on output activations.
from pimjax.hw._noise import NOISE_KINDS, NOISE_SCALES, NoiseConfig, noise_kind_id  # noqa: E402

__all__ += ["NOISE_KINDS", "NOISE_SCALES", "NoiseConfig", "noise_kind_id"]

# A node of several slice systems under a host: data / model parallelism (AMD Sec. 5).
from pimjax.hw._parallel import MAX_UNITS, PARALLEL_SCHEMES, ParallelConfig, amd_node  # noqa: E402

__all__ += ["MAX_UNITS", "PARALLEL_SCHEMES", "ParallelConfig", "amd_node"]

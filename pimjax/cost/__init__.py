"""Cost accounting (docs/design.md section 4): the cost record and the models that fill it."""

from pimjax.cost._model import (
    array_cost,
    costed_array_matmul,
    costed_system_matmul,
    peak_bandwidth,
    peak_flops,
    roofline,
    system_cost,
    weight_share_bytes,
)
from pimjax.cost._record import FIELDS, CostRecord, total

__all__ = [
    "FIELDS",
    "CostRecord",
    "array_cost",
    "costed_array_matmul",
    "costed_system_matmul",
    "peak_bandwidth",
    "peak_flops",
    "roofline",
    "system_cost",
    "total",
    "weight_share_bytes",
]

# AMD multi-PIM paper: analytic host / data-parallel / model-parallel times and memory per PIM.
from pimjax.cost._multipim import (  # noqa: E402
    COPY_BACK_MODES,
    SCHEMES,
    ExecutionTime,
    data_parallel_time,
    execution_time,
    host_time,
    model_parallel_time,
)
from pimjax.cost._multipim_layers import ConvLayer, FCLayer, PoolLayer  # noqa: E402
from pimjax.cost._multipim_memory import (  # noqa: E402
    MemoryPerPIM,
    data_parallel_memory,
    memory_per_pim,
    model_parallel_memory,
)

__all__ += [
    "COPY_BACK_MODES",
    "SCHEMES",
    "ConvLayer",
    "ExecutionTime",
    "FCLayer",
    "MemoryPerPIM",
    "PoolLayer",
    "data_parallel_memory",
    "data_parallel_time",
    "execution_time",
    "host_time",
    "memory_per_pim",
    "model_parallel_memory",
    "model_parallel_time",
]

# The emulated node of several slice systems (pimjax.system.parallel_matmul) and its host sync.
from pimjax.cost._multipim import model_parallel_sync  # noqa: E402
from pimjax.cost._parallel import HostSync, costed_parallel_matmul, host_sync, parallel_cost  # noqa: E402

__all__ += ["HostSync", "costed_parallel_matmul", "host_sync", "model_parallel_sync", "parallel_cost"]

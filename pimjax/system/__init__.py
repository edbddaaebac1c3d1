"""The multi-slice system (docs/design.md section 1, layer 4): mapping of matmuls onto slices, the
K-partitioned system matmul sharded over JAX devices, and data / model parallelism over several
systems under a host (AMD paper Sec. 5)."""

from pimjax.system._mapping import Mapping, weight_mappings
from pimjax.system._matmul import SystemResult, default_mesh, system_matmul
from pimjax.system._parallel import ParallelResult, parallel_matmul

__all__ = ["Mapping", "ParallelResult", "SystemResult", "default_mesh", "parallel_matmul", "system_matmul",
           "weight_mappings"]

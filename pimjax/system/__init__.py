"""The multi-slice system (DESIGN.md section 1, layer 4): mapping of matmuls onto slices and
the K-partitioned system matmul sharded over JAX devices."""

from pimjax.system._mapping import Mapping, weight_mappings
from pimjax.system._matmul import SystemResult, default_mesh, system_matmul

__all__ = ["Mapping", "SystemResult", "default_mesh", "system_matmul", "weight_mappings"]

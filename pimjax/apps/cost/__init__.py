"""Costs of a model on the emulated hardware (``pimjax cost``).

* From shapes, without running the model: :func:`model_gemms` lists a model's matmuls,
  :func:`gemm_costs` / :func:`model_costs` cost them per layer and phase on a system.
* From a traced training step: :func:`collect_costs` joins what emulated layers sowed (FF) with
  their probes' gradients (BP/UP events) by module path; :func:`format_cost_table` prints it.
"""

from pimjax.apps.cost._collect import CostLayout, PackedCosts, add_costs, collect_costs, format_cost_table
from pimjax.apps.cost._model_costs import (DEFAULT_SRC_LEN, DEFAULT_TGT_LEN, MODEL_NAMES, check_batch_modules,
                                           cost_rows, gemm_costs, interleaved, memory_slices_lstm, model_costs,
                                           model_gemms, phase_hardware, phase_totals, system_presets)

__all__ = ["DEFAULT_SRC_LEN", "DEFAULT_TGT_LEN", "MODEL_NAMES", "CostLayout", "PackedCosts", "add_costs",
           "check_batch_modules", "collect_costs", "cost_rows", "format_cost_table", "gemm_costs", "interleaved",
           "memory_slices_lstm", "model_costs", "model_gemms", "phase_hardware", "phase_totals", "system_presets"]

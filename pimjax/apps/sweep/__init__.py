"""Accuracy-vs-precision and noise sweeps as vectorized programs (docs/design.md section 5).

A swept config is a static :class:`SweepHardware` (array shape, slices, accumulator width: one
compiled program each) and a traced :class:`NumericPoint` (activation / weight / output bit
widths and fraction bits, rounding mode, noise kind and level: vmapped). :class:`SweepEvaluator`
evaluates a float-trained network (not retrained, Yang & Sze) on a test set under a batch of
points in one program, sharded over the devices; the result equals a run of each config alone,
and the ordinary emulation with the same formats, bit for bit. :func:`run_sweep` (``pimjax
sweep CONFIG``) runs a :class:`SweepSpec` from a TOML / JSON file into a tidy, resumable CSV
with a progress bar and plots.

>>> grid = SweepGrid(weight_bits=[2, 4, 8], noise_kind=["none", "fixed"], noise_level=[0.0, 0.1])
>>> [(hw.rows, hw.width, len(points)) for hw, points in grid.groups().items()]
[(256, 8, 9)]
"""

from pimjax.apps.sweep._config import (DATAPATHS, STATIC_FIELDS, SWEEP_ROUNDINGS, TRACED_FIELDS, WEIGHT_SCALES,
                                       NumericPoint, SweepHardware)
from pimjax.apps.sweep._datapath import (SweepContext, quantize_traced, sweep_matmul, system_config,
                                         training_hardware_for)
from pimjax.apps.sweep._evaluate import METRIC_NAMES, SweepEvaluator, reference_logits
from pimjax.apps.sweep._grid import GRID_MODES, SweepGrid, config_fields, config_key
from pimjax.apps.sweep._plots import plot_metric, plot_sweep, series, swept_axes
from pimjax.apps.sweep._results import COLUMNS, ResultsFile, config_rows, read_results
from pimjax.apps.sweep._run import SweepResult, run_sweep, summarize, sweep
from pimjax.apps.sweep._spec import ModelSpec, SweepSpec, load_spec

__all__ = ["COLUMNS", "DATAPATHS", "GRID_MODES", "METRIC_NAMES", "STATIC_FIELDS", "SWEEP_ROUNDINGS", "TRACED_FIELDS",
           "WEIGHT_SCALES", "ModelSpec", "NumericPoint", "ResultsFile", "SweepContext", "SweepEvaluator", "SweepGrid",
           "SweepHardware", "SweepResult", "SweepSpec", "config_fields", "config_key", "config_rows", "load_spec",
           "plot_metric", "plot_sweep", "quantize_traced", "read_results", "reference_logits", "run_sweep", "series",
           "summarize", "sweep", "sweep_matmul", "swept_axes", "system_config", "training_hardware_for"]

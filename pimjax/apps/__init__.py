"""Applications on top of :mod:`pimjax.nn`: datasets, training loops, sweeps (DESIGN layer 7)."""

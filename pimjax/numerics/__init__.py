"""Number formats, rounding and stochastic-rounding bit sources (docs/design.md sections 1-2).

Pure ``jnp``; works under ``jit``, ``vmap`` and ``grad``. Exact intermediate integers are
int64 (64-bit types are switched on locally, never globally). :func:`quantize` returns codes
in the format's narrowest integer dtype (``FixedFormat.code_dtype``: int8 / int16 / int32,
int64 for traced and 32-bit unsigned formats): upcast before wide arithmetic on them.
:func:`quantize_values` returns the decoded values instead (the decode fused in).
"""

from pimjax.numerics._events import NumericEvents
from pimjax.numerics._float_rounding import add_rounded, from_f64_exact, round_to_float, to_f64_exact
from pimjax.numerics._formats import (
    FLOAT_FORMAT_NAMES,
    OVERFLOW_MODES,
    ROUNDING_MODES,
    FixedFormat,
    FloatFormat,
    Format,
    check_format,
    fx,
    rounding_id,
)
from pimjax.numerics._pow2 import pow2, scale_pow2
from pimjax.numerics._quantize import decode, encode, quantize, quantize_values
from pimjax.numerics._random import (
    BIT_SOURCES,
    DEFAULT_STOCHASTIC,
    StochasticConfig,
    fold_key,
    hash_words,
    lfsr_state,
    random_words,
    sr_lo_words,
)
from pimjax.numerics._requantize import requantize, requantize_exact
from pimjax.numerics._rounding import apply_overflow, code_bounds, needs_random, round_shift

__all__ = [
    "BIT_SOURCES",
    "DEFAULT_STOCHASTIC",
    "FLOAT_FORMAT_NAMES",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "FixedFormat",
    "FloatFormat",
    "Format",
    "NumericEvents",
    "StochasticConfig",
    "add_rounded",
    "apply_overflow",
    "check_format",
    "code_bounds",
    "decode",
    "encode",
    "fold_key",
    "from_f64_exact",
    "fx",
    "hash_words",
    "lfsr_state",
    "needs_random",
    "pow2",
    "quantize",
    "quantize_values",
    "random_words",
    "requantize",
    "requantize_exact",
    "round_shift",
    "round_to_float",
    "scale_pow2",
    "rounding_id",
    "sr_lo_words",
    "to_f64_exact",
]

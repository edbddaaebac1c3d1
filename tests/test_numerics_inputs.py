"""Bad input to the numerics: a clear error, never a silently truncated number."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimjax.numerics import (
    StochasticConfig,
    apply_overflow,
    decode,
    fx,
    requantize,
    requantize_exact,
    round_shift,
)


@pytest.mark.parametrize("call,match", [
    (lambda x: requantize(x, fx(8, 0), fx(8, 0)), r"requantize: codes must be an integer array, got dtype float"),
    (lambda x: requantize(x, fx(8, 0), None), r"requantize: codes"),  # even the exact pass-through
    (lambda x: requantize_exact(x, 0, fx(8, 0)), r"requantize_exact: codes"),
    (lambda x: round_shift(x, 0, "floor"), r"round_shift: c must be an integer array"),
    (lambda x: round_shift(x, 3, "nearest_even"), r"round_shift: c"),
    (lambda x: round_shift(x, jnp.int32(3), "floor"), r"round_shift: c"),  # traced-shift path
    (lambda x: apply_overflow(x, 8, True, "wrap"), r"apply_overflow: v must be an integer array"),
    (lambda x: decode(x, fx(8, 0)), r"decode: codes for Fx\(8,0,saturate\) must be an integer array"),
])
def test_float_codes_are_rejected(call, match):
    """``requantize(np.array([2.7, -2.7]), ...)`` used to give [2, -2] (truncated)."""
    x = np.array([2.7, -2.7])
    with pytest.raises(TypeError, match=match):
        call(x)
    with pytest.raises(TypeError, match=match):  # dtypes are static: the same under jit
        jax.jit(call)(x.astype(np.float32))


def test_integer_codes_still_work():
    c = np.array([5, -6], np.int32)
    assert [int(v) for v in requantize(c, fx(8, 2), fx(8, 0), "floor")[0]] == [1, -2]
    assert [int(v) for v in round_shift(c, 1, "nearest_even")] == [2, -3]
    assert [int(v) for v in apply_overflow(np.array([300], np.int64), 8, True, "wrap")[0]] == [44]
    # float values of a float source format are not codes: requantize decodes them
    from pimjax.numerics import FloatFormat
    assert [int(v) for v in requantize(np.array([2.75], np.float32), FloatFormat(name="fp32"), fx(8, 0))[0]] == [3]


def test_stochastic_config_takes_numpy_integers():
    c = StochasticConfig(bits=np.int32(16), lfsr_seed=np.uint32(12345), lfsr_taps=[np.int64(32), 22, 2, 1])
    assert c == StochasticConfig(bits=16, lfsr_seed=12345)
    assert hash(c) == hash(StochasticConfig(bits=16, lfsr_seed=12345))
    assert type(c.bits) is int and type(c.lfsr_seed) is int and c.lfsr_taps == (32, 22, 2, 1)
    with pytest.raises(ValueError, match=r"StochasticConfig\.bits must be an integer in 1\.\.32"):
        StochasticConfig(bits=np.int8(33))
    with pytest.raises(TypeError, match=r"StochasticConfig\.lfsr_seed"):
        StochasticConfig(lfsr_seed=np.float32(3.0))
    with pytest.raises(TypeError, match=r"StochasticConfig\.lfsr_taps"):
        StochasticConfig(lfsr_taps=32)



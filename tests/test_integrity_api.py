"""Bad input to the public API is a clear ValueError/TypeError naming the argument and its range,
and ``round_shift`` is exact at the extremes of every width (Python-int reference)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimjax.numerics import FixedFormat, ROUNDING_MODES, decode, quantize, round_shift
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)


# ----------------------------------------------------------------- round_shift at the extremes

def _ref(c: int, d: int, mode: str, r: int, r_bits: int) -> int:
    """``round(c / 2**d)`` with Python ints (exact, no wrap)."""
    if d <= 0:
        return c << -d
    q, rem = c >> d, c & ((1 << d) - 1)
    half = 1 << (d - 1)
    if mode == "floor":
        return q
    if mode == "toward_zero":
        return q + (1 if c < 0 and rem else 0)
    if mode == "nearest_even":
        return q + (1 if rem > half or (rem == half and q & 1) else 0)
    if mode == "nearest_away":
        return q + (1 if rem > half or (rem == half and c >= 0) else 0)
    rp = r >> (r_bits - d) if d <= r_bits else r << (d - r_bits)
    return (c + rp) >> d


def _extremes() -> list[int]:
    """The code extremes of every format of 1..63 bits (signed and unsigned), and int64's."""
    vals = {0, 1, -1, 2**63 - 1, -(2**63), 2**63 - 2, -(2**63) + 1}
    for b in range(1, 64):
        vals |= {2 ** (b - 1) - 1, -(2 ** (b - 1)), 2**b - 1 if b < 63 else 2**63 - 1, 2 ** (b - 1)}
    return sorted(v for v in vals if -(2**63) <= v < 2**63)


@pytest.mark.parametrize("mode", quick_subset(ROUNDING_MODES, {"nearest_even", "stochastic"}))
def test_round_shift_is_exact_at_every_formats_extremes(mode):
    cs = _extremes()
    for r_bits in (1, 8, 32):
        words = sorted({0, 1, (1 << r_bits) - 1, 1 << (r_bits - 1)})
        c = np.repeat(np.array(cs, dtype=np.int64), len(words))
        w = np.tile(np.array(words, dtype=np.uint32), len(cs))
        for d in (1, 2, 7, 16, 31, 32, 33, 62, 63, 70, -3):
            want = [_ref(int(ci), d, mode, int(wi), r_bits) for ci, wi in zip(c, w)]
            # only results that fit int64 are defined (a left shift may overflow)
            ok = np.array([-(2**63) <= v < 2**63 for v in want])
            with jax.enable_x64(True):
                static = np.asarray(round_shift(jnp.asarray(c), d, mode, rwords=jnp.asarray(w), r_bits=r_bits))
                traced = np.asarray(jax.jit(lambda c, d, w: round_shift(c, d, mode, rwords=w, r_bits=r_bits))(
                    jnp.asarray(c), jnp.asarray(d), jnp.asarray(w)))
            for got, path in ((static, "static"), (traced, "traced")):
                bad = [(int(ci), int(wi), int(g), v) for ci, wi, g, v, k in zip(c, w, got, want, ok) if k and int(g) != v]
                assert not bad, f"{path} d={d} r_bits={r_bits} {mode}: (c, r, got, exact) {bad[:3]}"
            if mode not in ("stochastic", "sr_lo"):
                break  # the random words do not matter


def test_round_shift_near_int64_max_stochastic():
    """The finding: c = 2**63 - 1, one SR bit of 1 gave -2**62 (c + R' wrapped)."""
    with jax.enable_x64(True):
        out = round_shift(jnp.array([2**63 - 1]), 1, "stochastic", rwords=jnp.array([1], jnp.uint32), r_bits=1)
    assert int(out[0]) == 2**62


# ------------------------------------------------------------------------------ API messages

def test_decode_refuses_codes_outside_the_format():
    with pytest.raises(ValueError, match=r"codes must be in -32768..32767 .*got 40000"):
        decode(jnp.array([40000]), FixedFormat(bits=16, frac=8))
    with pytest.raises(ValueError, match=r"codes must be in 0..255 .*got -5"):
        decode(jnp.array([-5]), FixedFormat(bits=8, frac=0, signed=False))
    assert float(decode(jnp.array([255]), FixedFormat(bits=8, frac=0, signed=False))[0]) == 255.0


@pytest.mark.parametrize("key, err, match", [
    ("abc", TypeError, r"key must be a jax.random key.*got str 'abc'"),
    (1.5, TypeError, "key must be"),
    (2**32 + 5, ValueError, r"key as an integer seed must be in \[0, 2\*\*32 - 1\].*4294967301"),
    (-1, ValueError, r"must be in \[0, 2\*\*32 - 1\]"),
    (np.array(["a"]), TypeError, "dtype"),
])
def test_stochastic_rounding_keys_are_checked(key, err, match):
    for mode in ("stochastic", "sr_lo"):
        with pytest.raises(err, match=match):
            quantize(jnp.array([0.3]), FixedFormat(bits=8, frac=4), mode, key=key)


def test_rounding_none_names_the_modes():
    with pytest.raises(TypeError, match=r"rounding must be a mode name \(one of .*got None"):
        quantize(jnp.array([0.3]), FixedFormat(bits=8, frac=4), None)


@pytest.mark.parametrize("level", [-0.1, math.nan, math.inf])
def test_add_noise_refuses_bad_levels(level):
    from pimjax.nn import add_noise

    with pytest.raises(ValueError, match=r"level must be a finite number >= 0"):
        add_noise(jnp.zeros((2, 3)), "fixed", level, 0)


def test_lut_activation_names_the_functions():
    from pimjax.hw import LUTConfig
    from pimjax.units import lut_activation

    with pytest.raises(ValueError, match=r"activation name must be one of \[.*'relu'.*got 'foo'"):
        lut_activation("foo", jnp.zeros(3), LUTConfig())


def test_mapping_explicit_refuses_fractional_ranges():
    from pimjax.system import Mapping

    with pytest.raises(TypeError, match=r"k_ranges\[0\]\[1\] must be an integer, got float 8.5"):
        Mapping.explicit(k=16, n=8, k_ranges=[(0, 8.5), (8.5, 16)], rows=8)
    assert Mapping.explicit(k=16, n=8, k_ranges=[(0, 8), (8, 16)], rows=8).k_ranges == ((0, 8), (8, 16))


def test_sweep_file_top_level_list(tmp_path):
    from pimjax.apps.sweep import SweepSpec, load_spec

    p = tmp_path / "s.json"
    p.write_text("[1, 2]")
    with pytest.raises(TypeError, match=r"top level must be a table .* got a list"):
        load_spec(p)
    with pytest.raises(TypeError, match="got a list at its top level"):
        SweepSpec.from_dict([1, 2])
    p.write_text('{"name": "x", ')
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        load_spec(p)

"""Bad input at the API boundary of the array and the system: a clear error, never a wrong number.

* Operand codes outside ``a_format`` / ``b_format``: ValueError for concrete operands; under
  ``jit`` / ``vmap`` they are brought into the format by its own overflow rule and counted as
  overflow events, whichever path (fast, data-bound, rounded products, ordered) runs.
* Float datapaths take operands of exactly the operand format's dtype.
* Formats must be static (traced numerics are swept with ``pimjax.apps.sweep``).
* Shapes: M or N = 0 give empty array results on every path; the system rejects them.
* Random bits on multi-slice systems count only each slice's own K-chunks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimjax import hw
from pimjax.numerics import FixedFormat, FloatFormat, StochasticConfig, fx
from pimjax.system import Mapping, default_mesh, system_matmul
from pimjax.units import array_accumulate, emulated_matmul, systolic_matmul
from budget import quick_subset  # tests/budget.py: the default run and the thorough one

# 4-bit operands, exact 8-bit wrapping accumulator: K * 8 * 8 <= 127 for K = 1, so a one-element
# product takes the static fast path and a longer one the data-bound path (the reviewer's case).
TINY = hw.ArrayConfig(rows=1, width=2, a_format=fx(4, 0), b_format=fx(4, 0),
                      accumulator_format=fx(8, 0, overflow="wrap"), output_format=None)
# 8-bit operands, stochastic 16-bit products: the rounded-products path (or the ordered one)
ROUNDED = hw.ArrayConfig(rows=2, width=4, a_format=fx(8, 4), b_format=fx(8, 4), product_format=fx(16, 4),
                         product_rounding="stochastic", accumulator_format=fx(32, 4), output_format=None)
EXACT_AGG = hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 4), output_format=None)


def system_of(arr, num_slices, agg=EXACT_AGG):
    return hw.SystemConfig(array=arr, num_slices=num_slices, aggregation=agg)


# ------------------------------------------------------------------------------ A: operand codes


@pytest.mark.parametrize("entry", ["systolic", "accumulate", "system"])
def test_concrete_codes_outside_the_format_raise(entry):
    run = {
        "systolic": lambda a, b: systolic_matmul(a, b, TINY),
        "accumulate": lambda a, b: array_accumulate(a, b, TINY),
        "system": lambda a, b: system_matmul(a, b, system_of(TINY, 1, hw.AggregationConfig(
            packet_format=None, accumulator_format=fx(8, 0), output_format=None))),
    }[entry]
    ok = np.array([[7, -8]], np.int32)
    with pytest.raises(ValueError, match=r"a holds codes 100\.\.100, outside ArrayConfig\.a_format.*-8\.\.7"):
        run(np.array([[100]], np.int32), np.array([[100]], np.int32))
    with pytest.raises(ValueError, match=r"b holds codes -9\.\.1, outside ArrayConfig\.b_format.*-8\.\.7"):
        run(ok, np.array([[1], [-9]], np.int32))
    res = run(ok, np.array([[7], [-8]], np.int32))  # the format's extreme codes are accepted
    assert int(np.asarray(res.out)[0, 0]) == 49 + 64


def test_unsigned_and_wide_formats():
    cfg = hw.ArrayConfig(rows=1, width=2, a_format=fx(32, 0, signed=False), b_format=fx(8, 0, signed=False),
                         accumulator_format=fx(32, 0, signed=False), output_format=None)
    a = np.array([[2**32 - 1, 5]], np.uint32)  # the largest 32-bit unsigned code
    assert int(np.asarray(systolic_matmul(a, np.array([[1], [0]], np.uint8), cfg).out)[0, 0]) == 2**32 - 1
    with pytest.raises(ValueError, match=r"b holds codes -1\.\.1, outside ArrayConfig\.b_format.*0\.\.255"):
        systolic_matmul(a, np.array([[1], [-1]], np.int16), cfg)
    with pytest.raises(ValueError, match=r"a_format.*0\.\.4294967295"):
        systolic_matmul(np.array([[2**32, 0]], np.int64), np.array([[1], [0]], np.uint8), cfg)


def test_traced_codes_outside_the_format_do_not_depend_on_the_path():
    """The reviewer's repro under jit: K = 1 (static fast path) and K = 2 (data-bound path)
    gave 10000 and 16; now both saturate 100 to 7 first (2 overflow events)."""
    f = jax.jit(lambda a, b: systolic_matmul(a, b, TINY))
    r1 = f(jnp.array([[100]]), jnp.array([[100]]))
    r2 = f(jnp.array([[100, 0]]), jnp.array([[100], [0]]))
    for r in (r1, r2):
        assert int(r.out[0, 0]) == 49 and int(r.events.overflow) == 2
    # vmap: per batch element (b, closed over, is concrete: checked, in range)
    rv = jax.vmap(lambda a: systolic_matmul(a, jnp.array([[5], [3]]), TINY))(jnp.array([[[100, 1]], [[2, -9]]]))
    np.testing.assert_array_equal(np.asarray(rv.out)[:, 0, 0], [7 * 5 + 3, 2 * 5 - 8 * 3])
    np.testing.assert_array_equal(np.asarray(rv.events.overflow), [1, 1])
    # the same inside jit: b is a constant of the trace (checked there, not staged out)
    rj = jax.jit(jax.vmap(lambda a: systolic_matmul(a, jnp.array([[5], [3]]), TINY)))(jnp.array([[[100, 1]]]))
    assert int(rj.out[0, 0, 0]) == 38 and int(rj.events.overflow[0]) == 1
    for const in (np.array([[50], [3]]), jnp.array([[50], [3]])):  # numpy or jax constants of the trace
        with pytest.raises(ValueError, match=r"b holds codes 3\.\.50, outside ArrayConfig\.b_format"):
            jax.jit(lambda a: systolic_matmul(a, const, TINY))(jnp.array([[1, 1]]))
    # an array made inside the trace is traced: saturated, counted
    r = jax.jit(lambda a: systolic_matmul(a, jnp.array([[50], [3]]), TINY))(jnp.array([[1, 1]]))
    assert int(r.out[0, 0]) == 10 and int(r.events.overflow) == 1
    # a wrapping operand format wraps: 100 = 0b1100100 -> 0b0100 = 4 in 4 bits
    wrap = TINY.replace(a_format=fx(4, 0, overflow="wrap"))
    r = jax.jit(lambda a, b: systolic_matmul(a, b, wrap))(jnp.array([[100]]), jnp.array([[3]]))
    assert int(r.out[0, 0]) == 12 and int(r.events.overflow) == 1


@pytest.mark.parametrize("cfg,scale,ordered", [
    pytest.param(ROUNDED, 3, False, marks=pytest.mark.slow),  # rounded products (no saturation provable)
    (ROUNDED.replace(accumulator_format=fx(12, 4)), 127, True),  # saturating: ordered
])
def test_traced_codes_equal_eager_on_the_saturated_codes(cfg, scale, ordered):
    rng = np.random.default_rng(0)
    a = rng.integers(-scale, scale + 1, (3, 9)).astype(np.int32)
    b = rng.integers(-scale, scale + 1, (9, 2)).astype(np.int32)
    a_bad = a.copy()
    a_bad[0, 0], a_bad[2, 5] = 1000, -1000  # two codes outside Fx(8, 4)
    a_sat = np.clip(a_bad, -128, 127)
    want = systolic_matmul(a_sat, b, cfg, key=3)
    got = jax.jit(lambda x, y: systolic_matmul(x, y, cfg, key=3))(a_bad, b)
    np.testing.assert_array_equal(np.asarray(got.out), np.asarray(want.out))
    assert int(got.events.overflow) == int(want.events.overflow) + 2
    assert int(got.events.random_bits) == int(want.events.random_bits)
    assert bool(got.ordered) is bool(want.ordered) is ordered
    # the system's entry applies the same rule once (its slices' arrays see checked codes)
    sys_cfg = system_of(cfg, 2, hw.AggregationConfig(packet_format=None, accumulator_format=cfg.accumulator_format,
                                                     output_format=None))
    sw = system_matmul(a_sat, b, sys_cfg, key=3)
    sg = jax.jit(lambda x, y: system_matmul(x, y, sys_cfg, key=3))(a_bad, b)
    np.testing.assert_array_equal(np.asarray(sg.out), np.asarray(sw.out))
    assert int(sg.events.overflow) == int(sw.events.overflow) + 2


def test_float_operands_must_have_the_format_dtype():
    f32 = FloatFormat(name="fp32")
    cfg = hw.ArrayConfig(rows=2, width=2, a_format=FloatFormat(name="bf16"), b_format=FloatFormat(name="fp16"),
                         tree_format=f32, accumulator_format=f32, output_format=f32)
    a = np.array([[0.1]], np.float32)
    bf = a.astype(FloatFormat(name="bf16").dtype)
    h = np.array([[1.0]], np.float16)
    with pytest.raises(TypeError, match=r"a must have dtype bfloat16 of ArrayConfig\.a_format"):
        systolic_matmul(a, h, cfg)
    with pytest.raises(TypeError, match=r"b must have dtype float16 of ArrayConfig\.b_format"):
        array_accumulate(bf, h.astype(np.float32), cfg)
    fcfg = system_of(cfg, 1, hw.AggregationConfig(packet_format=None, accumulator_format=f32, output_format=f32))
    with pytest.raises(TypeError, match=r"a_format"):
        system_matmul(a, h, fcfg)
    # values of the format: bf16(0.1) = 0.10009765625, exactly
    assert float(np.asarray(systolic_matmul(bf, h, cfg).out)[0, 0]) == 0.10009765625
    # emulated_matmul quantizes float32 input itself (nearest even), as the nn layers do
    vals, _ = emulated_matmul(a, np.array([[1.0]], np.float32), cfg)
    assert float(vals[0, 0]) == 0.10009765625


def test_emulated_matmul_quantizes_out_of_range_reals():
    cfg = TINY.replace(output_format=fx(8, 0))
    vals, ev = emulated_matmul(np.array([[100.0]], np.float32), np.array([[100.0]], np.float32), cfg)
    assert float(vals[0, 0]) == 49.0 and int(ev.overflow) == 2
    vals, ev = jax.jit(lambda a, b: emulated_matmul(a, b, cfg))(jnp.array([[100.0, 0.0]]), jnp.array([[100.0], [0.0]]))
    assert float(vals[0, 0]) == 49.0 and int(ev.overflow) == 2


# ------------------------------------------------------------------------------ B: static formats


def _traced(bits):
    return hw.ArrayConfig(rows=2, width=2, a_format=fx(8, 4), b_format=fx(8, 4),
                          accumulator_format=FixedFormat(bits=bits, frac=8), output_format=fx(8, 4))


@pytest.mark.parametrize("entry", ["systolic", "accumulate", "emulated", "system", "system_agg"])
def test_traced_formats_are_rejected(entry):
    a = jnp.ones((2, 3), jnp.int8) * 100
    b = jnp.ones((3, 2), jnp.int8) * 100

    def run(bits):
        if entry == "systolic":
            return systolic_matmul(a, b, _traced(bits)).out
        if entry == "accumulate":
            return array_accumulate(a, b, _traced(bits)).out
        if entry == "emulated":
            return emulated_matmul(a.astype(jnp.float32), b.astype(jnp.float32), _traced(bits))[0]
        if entry == "system":
            return system_matmul(a, b, system_of(_traced(bits), 1, hw.AggregationConfig(
                packet_format=None, accumulator_format=fx(16, 8), output_format=None))).out
        agg = hw.AggregationConfig(packet_format=None, accumulator_format=FixedFormat(bits=bits, frac=8),
                                   output_format=None)
        return system_matmul(a, b, system_of(_traced(16).replace(accumulator_format=fx(16, 8)), 1, agg)).out

    field = "AggregationConfig.accumulator_format" if entry == "system_agg" else "ArrayConfig.accumulator_format"
    with pytest.raises(TypeError, match=rf"needs static formats.*{field}.*pimjax\.apps\.sweep"):
        jax.vmap(run)(jnp.array([12, 16, 20]))


# ------------------------------------------------------------------------------ D: shapes, config


@pytest.mark.parametrize("cfg,dt", [
    (hw.presets.get("memory_slices"), np.int16),  # Q8.8, 32-bit accumulator: data-bound path
    (TINY.replace(accumulator_format=fx(16, 0)), np.int8),  # static fast path
    (ROUNDED, np.int8),  # rounded products / ordered
    (ROUNDED.replace(product_rounding="sr_lo"), np.int8),  # rounded products with SR LO words
])
@pytest.mark.parametrize("shape", [(0, 3, 2), (2, 3, 0)])
def test_empty_m_or_n_gives_empty_results(cfg, dt, shape):
    m, k, n = shape
    a, b = np.zeros((m, k), dt), np.zeros((k, n), dt)
    for res in (systolic_matmul(a, b, cfg, key=1), array_accumulate(a, b, cfg, key=1),
                jax.jit(lambda x, y: systolic_matmul(x, y, cfg, key=1))(a, b)):
        assert res.out.shape == (m, n)
        assert int(res.events.overflow) == 0


def test_empty_float_and_system_shapes():
    f32 = FloatFormat(name="fp32")
    cfg = hw.presets.get("memory_slices_fp32")
    assert systolic_matmul(np.zeros((0, 3), np.float32), np.zeros((3, 2), np.float32), cfg).out.shape == (0, 2)
    with pytest.raises(ValueError, match=r"system_matmul needs M >= 1 and N >= 1"):
        system_matmul(np.zeros((0, 3), np.int8), np.zeros((3, 2), np.int8), system_of(ROUNDED, 2), key=1)
    with pytest.raises(ValueError, match=r"system_matmul needs M >= 1 and N >= 1"):
        system_matmul(np.zeros((2, 3), np.float32), np.zeros((3, 0), np.float32), system_of(
            cfg, 1, hw.AggregationConfig(packet_format=None, accumulator_format=f32, output_format=None)))


def test_array_accumulate_checks_its_config():
    with pytest.raises(TypeError, match=r"config must be an ArrayConfig, got str"):
        array_accumulate(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8), "memory_slices")
    with pytest.raises(TypeError, match=r"config must be an ArrayConfig"):
        emulated_matmul(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32), None)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(width=0), ValueError, r"Mapping\.even: width must be an integer >= 1, got 0"),
    (dict(rows=0), ValueError, r"Mapping\.even: rows must be an integer >= 1, got 0"),
    (dict(k=0), ValueError, r"Mapping\.even: k must be an integer >= 1, got 0"),
    (dict(num_slices=0), ValueError, r"Mapping\.even: num_slices must be an integer >= 1, got 0"),
    (dict(width=2.0), TypeError, r"Mapping\.even: width must be an integer, got float 2\.0"),
    (dict(k=True), TypeError, r"Mapping\.even: k must be an integer, got bool True"),
])
def test_mapping_even_validates(kw, exc, match):
    args = dict(k=8, n=2, num_slices=2, width=4, rows=2) | kw
    with pytest.raises(exc, match=match):
        Mapping.even(**args)


def test_mapping_explicit_validates_rows():
    with pytest.raises(ValueError, match=r"Mapping\.explicit: rows must be an integer >= 1, got 0"):
        Mapping.explicit(k=2, n=2, k_ranges=[(0, 2)], rows=0)


# ------------------------------------------------------------------------------ C: random bits


def _slice_bits(a, b, arr, ranges):
    """Random bits of each slice's own array_accumulate, and whether each took the ordered path."""
    bits, paths = 0, set()
    for lo, hi in ranges:
        if hi > lo:
            r = array_accumulate(a[:, lo:hi], b[lo:hi], arr, key=1)
            bits += int(r.events.random_bits)
            paths.add(bool(r.ordered))
    return bits, paths


_BITS_ARRAYS = [
    (ROUNDED, 50, False),  # rounded products
    (ROUNDED.replace(tree_format=fx(32, 2), tree_rounding="stochastic", accumulator_format=fx(32, 2)), 50, True),
    (ROUNDED.replace(product_rounding="sr_lo", stochastic=StochasticConfig(bits=3)), 127, False),  # SR LO words too
]


# each array on 1 device and on 2; the default run: the tree-SR array on 1, SR LO on 2 (rounded
# products: test_random_bits_reviewer_repro)
@pytest.mark.parametrize("arr,scale,path,d", quick_subset(
    [(*c, d) for c in _BITS_ARRAYS for d in (1, 2)],
    {(*_BITS_ARRAYS[1], 1), (*_BITS_ARRAYS[2], 2)},
    ids=lambda v: f"{['rounded', 'tree_sr', 'sr_lo'][[c[0] for c in _BITS_ARRAYS].index(v[0])]}-d{v[3]}"))
def test_random_bits_count_each_slices_own_chunks(arr, scale, path, d):
    """The reviewer's repro (slices of 1 and 8 elements, width 4: 1 + 2 chunks, not 2 + 2), plus
    an empty slice and a one-element one; on 1 and 2 devices."""
    rng = np.random.default_rng(0)
    a = rng.integers(-scale, scale + 1, (2, 10)).astype(np.int32)
    b = rng.integers(-scale, scale + 1, (10, 3)).astype(np.int32)
    ranges = [(0, 1), (1, 9), (9, 9), (9, 10)]
    mp = Mapping.explicit(k=10, n=3, k_ranges=ranges, rows=arr.rows)
    agg = hw.AggregationConfig(packet_format=None, accumulator_format=arr.accumulator_format, output_format=None)
    res = system_matmul(a, b, system_of(arr, 4, agg), mapping=mp, key=1, mesh=default_mesh(devices=d))
    want, paths = _slice_bits(a, b, arr, ranges)
    assert paths == {path}
    assert int(res.events.random_bits) == want
    # per chunk of W = 4 lanes x 2 x 3 outputs: 1 + 2 + 0 + 1 chunks
    per_chunk = int(array_accumulate(a[:, :4], b[:4], arr, key=1).events.random_bits)
    assert want == 4 * per_chunk > 0


def test_random_bits_reviewer_repro():
    arr = ROUNDED
    rng = np.random.default_rng(0)
    a, b = rng.integers(-50, 50, (1, 9)), rng.integers(-50, 50, (9, 1))
    mp = Mapping.explicit(k=9, n=1, k_ranges=[(0, 1), (1, 9)], rows=2)
    r = system_matmul(a, b, system_of(arr, 2), mapping=mp, key=1)
    assert int(r.events.random_bits) == 48  # 16 + 32 (was 64: the 1-element slice padded to 2 chunks)

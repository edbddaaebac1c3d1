"""Exact integer matrix products at full GEMM speed (the order-free fast path).

When the result of a fixed-point datapath cannot depend on accumulation order, the array's
output is the exact integer product ``A @ B`` (then the output stage). Two exact methods:

* ``"f64"``: one float GEMM. Exact whenever every partial sum is an integer below ``2**53``
  in magnitude; the caller guarantees that (sum_k |a_ik||b_kj| < 2**53). Where the static bound
  ``K * max|a| * max|b|`` (from the bit widths) is at most ``2**24`` the GEMM runs in float32
  (every partial sum is then an integer float32 holds exactly, in any order): the same
  integers at half the memory traffic. Fastest on CPU.
* ``"int8"``: operands split into 8-bit limbs (top limb signed, lower limbs offset by -128 to
  fit int8), one int8 x int8 -> int32 GEMM per limb pair, with row/column-sum corrections for
  the offsets, combined in int64. Exact for any operand up to 32 bits and any K (K is blocked
  so int32 sums cannot overflow). Fastest where int8 GEMMs are (GPU/TPU tensor cores).

``"auto"`` picks ``f64`` on CPU and ``int8`` elsewhere (``PIMJAX_BACKEND_PATHS=accelerator``
forces ``int8`` on a CPU too: :mod:`pimjax.units._backend`). Measured on the 2-core CPU this was
developed on (1024^3): f32 dot 4.9 ms, f64 dot 10.3 ms, four int8 dots 13 ms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pimjax.units._backend import accelerator_paths

METHODS = ("auto", "f64", "int8")
_DN = (((1,), (0,)), ((), ()))
_INT8_K_BLOCK = 1 << 16  # K * 128 * 128 < 2**31


def resolve_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        return "int8" if accelerator_paths() else "f64"
    return method


def _limbs(c: jax.Array, n: int) -> list[tuple[jax.Array, int]]:
    """Splits int64 ``c`` into ``n`` int8 limbs: ``c = sum(2**(8l) * (s_l + off_l))``."""
    out = []
    for l in range(n):
        if l == n - 1:
            s = c >> (8 * l)
            out.append((s.astype(jnp.int8), 0))
        else:
            u = (c >> (8 * l)) & 0xFF
            out.append(((u - 128).astype(jnp.int8), 128))
    return out


def _n_limbs(bits: int, signed: bool) -> int:
    return -(-(bits + (0 if signed else 1)) // 8)


def _max_code(bits: int, signed: bool) -> int:
    return 1 << (bits - 1) if signed else (1 << bits) - 1


def float32_exact(k: int, a_bits: int, b_bits: int, a_signed: bool = True, b_signed: bool = True) -> bool:
    """Whether every partial sum of a K-deep product of such codes is at most ``2**24`` in magnitude."""
    return k * _max_code(a_bits, a_signed) * _max_code(b_bits, b_signed) <= 1 << 24


def abs_product_bound(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, float]:
    """``(max|a|, max|b|, S, margin)``: ``S margin >= sum_k |a_ik||b_kj|`` for every output.

    ``S`` is the smallest of ``max_i ||a_i||_1 max|b|``, ``max|a| max_j ||b_j||_1`` and
    ``max_i ||a_i||_2 max_j ||b_j||_2`` (Hoelder / Cauchy-Schwarz), O(MK + KN) work in float32
    scalars; ``margin`` (a Python float) bounds the relative rounding of these float32 values
    (inputs ``|code| < 2**32`` and K-term sums carry relative error ``<= (K + 4) 2**-24``), also
    of ``max|a| max|b|``. Empty operands (M or N = 0) give zeros.
    """
    k = a.shape[1]
    # cast before abs: abs of the most negative code wraps in its own integer type (int16 -32768)
    with jax.enable_x64(True):  # abs of the int64 code: no float abs for XLA to drop from |x| |x|
        fa = jnp.abs(a.astype(jnp.int64)).astype(jnp.float32)
        fb = jnp.abs(b.astype(jnp.int64)).astype(jnp.float32)
    # every reduction over one axis first (a's rows, b's columns): XLA makes them one pass over
    # each operand (one fusion) instead of materializing |a| and |b| for a whole-array max
    # then one max over the stacked per-row (per-column) maxima, sums and sums of squares (exact
    # in any order) instead of three small reductions per operand, each compiled to kernels
    mxa, l1a, l2a = jnp.max(jnp.stack([jnp.max(fa, 1, initial=0.0), jnp.sum(fa, 1), jnp.sum(fa * fa, 1)]), 1,
                            initial=0.0)
    mxb, l1b, l2b = jnp.max(jnp.stack([jnp.max(fb, 0, initial=0.0), jnp.sum(fb, 0), jnp.sum(fb * fb, 0)]), 1,
                            initial=0.0)
    s = jnp.minimum(jnp.minimum(l1a * mxb, mxa * l1b), jnp.sqrt(l2a) * jnp.sqrt(l2b))
    return mxa, mxb, s, 1.0 + 4.0 * (k + 8) * 2.0 ** -24


def exact_matmul(a: jax.Array, b: jax.Array, *, a_bits: int, b_bits: int, a_signed: bool = True,
                 b_signed: bool = True, method: str = "auto") -> jax.Array:
    """Exact ``a @ b`` of integer codes as int64 (see module docstring for ``method``)."""
    method = resolve_method(method)
    with jax.enable_x64(True):
        a = jnp.asarray(a).astype(jnp.int64)
        b = jnp.asarray(b).astype(jnp.int64)
        if method == "f64":
            dt = jnp.float32 if float32_exact(a.shape[1], a_bits, b_bits, a_signed, b_signed) else jnp.float64
            c = jax.lax.dot_general(a.astype(dt), b.astype(dt), _DN, precision=jax.lax.Precision.HIGHEST)
            return c.astype(jnp.int64)
        k = a.shape[1]
        if k > _INT8_K_BLOCK:
            total = jnp.zeros((a.shape[0], b.shape[1]), jnp.int64)
            for s in range(0, k, _INT8_K_BLOCK):
                total = total + exact_matmul(a[:, s:s + _INT8_K_BLOCK], b[s:s + _INT8_K_BLOCK],
                                             a_bits=a_bits, b_bits=b_bits, a_signed=a_signed,
                                             b_signed=b_signed, method="int8")
            return total
        la = _limbs(a, _n_limbs(a_bits, a_signed))
        lb = _limbs(b, _n_limbs(b_bits, b_signed))
        # (S + c)(T + d) = S T + d * rowsum(S) + c * colsum(T) + c d K
        total = jnp.zeros((a.shape[0], b.shape[1]), jnp.int64)
        rows = [jnp.sum(s.astype(jnp.int32), axis=1, dtype=jnp.int32).astype(jnp.int64)[:, None] for s, _ in la]
        cols = [jnp.sum(t.astype(jnp.int32), axis=0, dtype=jnp.int32).astype(jnp.int64)[None, :] for t, _ in lb]
        for i, (s, c_off) in enumerate(la):
            for j, (t, d_off) in enumerate(lb):
                st = jax.lax.dot_general(s, t, _DN, preferred_element_type=jnp.int32).astype(jnp.int64)
                term = st + d_off * rows[i] + c_off * cols[j] + c_off * d_off * k
                total = total + (term << (8 * (i + j)))
        return total

"""Lowering an intercepted ``dot_general`` / ``conv_general_dilated`` onto the emulated arrays.

The same functions the built-in layers use carry every product, so there is one way a matmul
reaches the arrays:

* ``dot_general`` without batch dimensions: the lhs is transposed to ``(free..., contracting...)``
  and reshaped to ``(M, K)``, the rhs to ``(K, N)`` (its contracting dimensions first), and
  :func:`~pimjax.nn.emulated_dot` multiplies them (FF/BP/UP custom VJP): the lhs streams through
  register A, the rhs is the preloaded operand, as ``x @ W`` in :class:`~pimjax.nn.EmuLinear`.
* with batch dimensions: ``(B, M, K) @ (B, K, N)``, the ``B`` products independent matmuls on
  :func:`~pimjax.nn.emulated_bmm` (attention's scores and context).
* ``conv_general_dilated`` (1, 2 or 3 spatial dimensions, any layout): the input to
  channels-last (NHWC, NDHWC), the kernel to the im2col matrix ``(C * kh * kw, O)`` (channel
  major, :class:`~pimjax.nn.EmuConv`'s layout; ``C * kd * kh * kw`` in 3-D); 2-D patches by
  :func:`~pimjax.nn.im2col` (strides, padding) or, with input dilation (transposed
  convolutions), kernel dilation or 3 spatial dimensions, by the same gather over the
  dilated, padded input (1-D convolutions get a unit height); then one matmul, or with ``feature_group_count = G`` the ``G`` group matmuls
  ``(M, C/G * kh * kw) @ (C/G * kh * kw, O/G)`` on :func:`~pimjax.nn.emulated_bmm`.

Results are float32 from the arrays, cast to the op's native result dtype.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.cost import CostRecord
from pimjax.nn._attention import emulated_bmm
from pimjax.nn._emulated import TrainingHardware, emulated_dot, zero_events
from pimjax.nn._im2col import im2col
from pimjax.nn._layers import events_only_costs, matmul_costs
from pimjax.nn._modules import check_module_batch


def _dims(name: str, dims: Any, ndim: int, where: str) -> tuple[int, ...]:
    try:
        out = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be a sequence of dimension indices, got {dims!r}") from None
    if any(not 0 <= d < ndim for d in out) or len(set(out)) != len(out):
        raise ValueError(f"{where}: {name} {out} must be distinct dimensions in [0, {ndim}) of a rank-{ndim} operand")
    return out


Gemm = tuple[int, int, int, int, bool]
"""An op's matmul shape ``(m, k, n, calls, per_example)``: ``calls`` independent ``(m, k) @ (k, n)``."""


def op_costs(gemm: Gemm, hw: TrainingHardware, ev: jax.Array | None) -> dict[str, CostRecord]:
    """Per-phase cost records of an op (:func:`~pimjax.nn._layers.matmul_costs`), FF events ``ev``
    (encoded; ``None``: not recorded)."""
    m, k, n, calls, per_example = gemm
    if not hw.record_costs:
        return events_only_costs(ev if ev is not None else zero_events())
    return matmul_costs(m, k, n, hw, None if ev is None else {"ff": ev}, calls=calls, per_example=per_example)


def lower_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any, hw: TrainingHardware, *,
                      seed: jax.Array, probe: jax.Array | None, out_dtype: Any,
                      where: str, check_only: bool = False) -> tuple[jax.Array, jax.Array, Gemm] | None:
    """``jax.lax.dot_general(lhs, rhs, dimension_numbers)`` on ``hw`` (module docstring).

    Returns ``(y, ff_events, gemm)``: ``y`` in ``out_dtype`` with dot_general's output layout
    (batch, lhs free, rhs free dimensions), the encoded FF events and the matmul shape
    (:data:`Gemm`, for :func:`op_costs`).

    Raises:
      ValueError naming ``where``: dimension numbers the operands cannot map.
    """
    try:
        (lc, rc), (lb, rb) = dimension_numbers
    except (TypeError, ValueError):
        raise ValueError(f"{where}: dimension_numbers must be ((lhs_contracting, rhs_contracting), "
                         f"(lhs_batch, rhs_batch)), got {dimension_numbers!r}") from None
    lc, lb = _dims("lhs contracting dims", lc, lhs.ndim, where), _dims("lhs batch dims", lb, lhs.ndim, where)
    rc, rb = _dims("rhs contracting dims", rc, rhs.ndim, where), _dims("rhs batch dims", rb, rhs.ndim, where)
    if len(lc) != len(rc) or len(lb) != len(rb) or set(lc) & set(lb) or set(rc) & set(rb):
        raise ValueError(f"{where}: dimension_numbers {dimension_numbers} must pair as many lhs as rhs contracting "
                         f"and batch dimensions, disjoint (shapes {lhs.shape} and {rhs.shape})")
    for a, b, what in ((lc, rc, "contracting"), (lb, rb, "batch")):
        if [lhs.shape[d] for d in a] != [rhs.shape[d] for d in b]:
            raise ValueError(f"{where}: {what} dimensions {a} of lhs {lhs.shape} and {b} of rhs {rhs.shape} "
                             f"must have equal sizes")
    lf = tuple(d for d in range(lhs.ndim) if d not in lc and d not in lb)
    rf = tuple(d for d in range(rhs.ndim) if d not in rc and d not in rb)
    bshape = tuple(lhs.shape[d] for d in lb)
    mshape, nshape = tuple(lhs.shape[d] for d in lf), tuple(rhs.shape[d] for d in rf)
    bsz, m, k, n = math.prod(bshape), math.prod(mshape), math.prod(lhs.shape[d] for d in lc), math.prod(nshape)
    check_module_batch((bsz,) if lb else (m,), hw.modules, where)
    if check_only:
        return None
    a = jnp.transpose(lhs, lb + lf + lc) if lb + lf + lc != tuple(range(lhs.ndim)) else lhs
    b = jnp.transpose(rhs, rb + rc + rf) if rb + rc + rf != tuple(range(rhs.ndim)) else rhs
    if not lb:
        y, ev = emulated_dot(a.reshape(m, k), b.reshape(k, n), hw, seed=seed, probe=probe)
        gemm = (m, k, n, 1, False)
    else:
        y, ev = emulated_bmm(a.reshape(bsz, m, k), b.reshape(bsz, k, n), hw, seed=seed, probe=probe)
        gemm = (m, k, n, bsz, True)
    return y.reshape(bshape + mshape + nshape).astype(out_dtype), ev, gemm


def _patches(x: jax.Array, kernel: tuple[int, ...], strides: tuple[int, ...], pads: list[tuple[int, int]],
             lhs_dil: tuple[int, ...], rhs_dil: tuple[int, ...]) -> jax.Array:
    """Channel-major patches ``(N, *out, C * prod(kernel))`` of a channels-last ``x`` (``N,
    spatial..., C``): :func:`im2col` for plain 2-D convolutions, else one gather over the
    dilated, padded input (any number of spatial dimensions)."""
    nsp = len(kernel)
    if nsp == 2 and lhs_dil == (1, 1) and rhs_dil == (1, 1) and min(min(p) for p in pads) >= 0:
        return im2col(x, kernel, strides, pads)
    n, c = x.shape[0], x.shape[-1]
    cfg = [(0, 0, 0)] + [(lo, hi, d - 1) for (lo, hi), d in zip(pads, lhs_dil)] + [(0, 0, 0)]
    xp = jax.lax.pad(x, jnp.zeros((), x.dtype), cfg)
    psp = xp.shape[1:-1]
    out = tuple((p - (k - 1) * d - 1) // s + 1 for p, k, d, s in zip(psp, kernel, rhs_dil, strides))
    if min(out) < 1:
        raise ValueError(f"kernel {kernel} (dilation {rhs_dil}) does not fit the padded input {'x'.join(map(str, psp))}")
    idx = np.zeros(out + tuple(kernel), np.int64)  # flat position in the padded input: (*out, *kernel)
    for i in range(nsp):
        o = np.arange(out[i]).reshape([-1 if j == i else 1 for j in range(2 * nsp)]) * strides[i]
        k = np.arange(kernel[i]).reshape([-1 if j == nsp + i else 1 for j in range(2 * nsp)]) * rhs_dil[i]
        idx = idx + (o + k) * math.prod(psp[i + 1:])
    kk = math.prod(kernel)
    p = xp.reshape(n, math.prod(psp), c)[:, idx.reshape(-1, kk), :]
    return p.transpose(0, 1, 3, 2).reshape(n, *out, c * kk)


def _ints(name: str, v: Any, n: int, where: str) -> tuple[int, ...]:
    v = (1,) * n if v is None else tuple(int(s) for s in v)
    if len(v) != n or min(v) < 1:
        raise ValueError(f"{where}: {name} must be {n} integers >= 1, got {v}")
    return v


def lower_conv(lhs: jax.Array, rhs: jax.Array, args: dict[str, Any], hw: TrainingHardware, *, seed: jax.Array,
               probe: jax.Array | None, out_dtype: Any, where: str,
               check_only: bool = False) -> tuple[jax.Array, jax.Array, Gemm] | None:
    """``jax.lax.conv_general_dilated(lhs, rhs, **args)`` on ``hw`` by im2col (module docstring).

    Raises:
      ValueError naming ``where``: other than 1, 2 or 3 spatial dimensions, ``batch_group_count > 1``,
        channels not divisible into the feature groups, grouped convolutions with ``hw.modules > 1``.
    """
    nsp = lhs.ndim - 2
    if nsp not in (1, 2, 3) or rhs.ndim != lhs.ndim:
        raise ValueError(f"{where}: conv_general_dilated lowers 1, 2 or 3 spatial dimensions (rank-3, rank-4 or "
                         f"rank-5 operands), got shapes {lhs.shape} and {rhs.shape}")
    if int(args.get("batch_group_count") or 1) != 1:
        raise ValueError(f"{where}: batch_group_count must be 1 (got {args['batch_group_count']}): the arrays have "
                         f"no batch-grouped convolution")
    dn = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, args.get("dimension_numbers"))
    strides = _ints("window_strides", args["window_strides"], nsp, where)
    lhs_dil = _ints("lhs_dilation", args.get("lhs_dilation"), nsp, where)
    rhs_dil = _ints("rhs_dilation", args.get("rhs_dilation"), nsp, where)
    x = jnp.transpose(lhs, (dn.lhs_spec[0], *dn.lhs_spec[2:], dn.lhs_spec[1]))  # N, spatial, C
    w = jnp.transpose(rhs, (*dn.rhs_spec[2:], dn.rhs_spec[1], dn.rhs_spec[0]))  # spatial, I, O
    kernel = w.shape[:nsp]
    padding = args["padding"]
    if isinstance(padding, str):
        eff = [(k - 1) * d + 1 for k, d in zip(kernel, rhs_dil)]
        padding = jax.lax.padtype_to_pads(x.shape[1:1 + nsp], eff, strides, padding)
    pads = [tuple(int(v) for v in p) for p in padding]
    if len(pads) != nsp or any(len(p) != 2 for p in pads):
        raise ValueError(f"{where}: padding must be a string or {nsp} (low, high) pairs, got {args['padding']!r}")
    if nsp == 1:
        x, w = x[:, None], w[None]
        kernel, strides, pads = (1, *kernel), (1, *strides), [(0, 0), *pads]
        lhs_dil, rhs_dil = (1, *lhs_dil), (1, *rhs_dil)
    groups = int(args.get("feature_group_count") or 1)
    c, (cg, o) = x.shape[-1], w.shape[-2:]
    if groups < 1 or c != cg * groups or o % groups:
        raise ValueError(f"{where}: feature_group_count {groups} must divide the {o} output features and give the "
                         f"kernel's {cg} input features per group of the input's {c}")
    if groups > 1 and hw.modules > 1:
        raise ValueError(f"{where}: grouped convolutions (feature_group_count={groups}) need hw.modules == 1, "
                         f"got {hw.modules}")
    check_module_batch(x.shape, hw.modules, where)
    if check_only:
        jax.eval_shape(lambda x: _patches(x, tuple(kernel), tuple(strides), pads, tuple(lhs_dil), tuple(rhs_dil)), x)
        return None
    patches = _patches(x, tuple(kernel), tuple(strides), pads, tuple(lhs_dil), tuple(rhs_dil))
    kdim, sp = patches.shape[-1], len(kernel)
    wmat = w.transpose(sp, *range(sp), sp + 1).reshape(cg * math.prod(kernel), o)  # EmuConv's (C * kh * kw, O)
    m = math.prod(patches.shape[:-1])
    if groups == 1:
        y, ev = emulated_dot(patches, wmat, hw, seed=seed, probe=probe)
        gemm = (m, kdim, o, 1, False)
    else:
        kg, og = kdim // groups, o // groups
        a = patches.reshape(m, groups, kg).transpose(1, 0, 2)
        b = wmat.reshape(kg, groups, og).transpose(1, 0, 2)
        y, ev = emulated_bmm(a, b, hw, seed=seed, probe=probe)
        y = y.transpose(1, 0, 2).reshape(*patches.shape[:-1], o)
        gemm = (m, kg, og, groups, True)
    if nsp == 1:
        y = y[:, 0]
    src = (dn.out_spec[0], *dn.out_spec[2:], dn.out_spec[1])
    return jnp.transpose(y, tuple(int(i) for i in np.argsort(src))).astype(out_dtype), ev, gemm


__all__ = ["Gemm", "lower_conv", "lower_dot_general", "op_costs"]

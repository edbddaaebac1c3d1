"""Running a sweep: train (or load) the float model, evaluate every config group, append results.

:func:`run_sweep` is what ``pimjax sweep CONFIG`` does: it reads a :class:`SweepSpec`, gets the
float-trained network (:func:`~pimjax.apps.sweep.models.trained_model`), and for every static
hardware group of the grid (one compiled program each) evaluates the configs not yet in the
results CSV, ``chunk`` configs per vmapped call, appending each chunk's rows as one block
(:class:`~pimjax.apps.sweep._results.ResultsFile`); a progress bar counts configs. Rerunning it
with the same CSV resumes where it stopped. :func:`sweep` is the in-memory Python API (no file).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from pimjax.apps._atomic import preflight
from pimjax.apps.sweep import _fingerprint as fingerprint
from pimjax.apps import _distributed as dist
from pimjax.apps.sweep._config import NumericPoint, SweepHardware
from pimjax.apps.sweep._evaluate import METRIC_NAMES, SweepEvaluator
from pimjax.apps.sweep._grid import SweepGrid, config_fields
from pimjax.apps.sweep._results import ResultsFile, config_rows, read_results, row_key
from pimjax.apps.sweep._spec import SweepSpec, load_spec


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did: the CSV, its rows, configs evaluated now / skipped, timings."""

    path: str | None
    rows: list[dict[str, Any]]
    evaluated: int
    skipped: int
    seconds: float
    plot: str | None = None


def check_devices(devices: int) -> None:
    """Raises ValueError unless ``devices`` (0: all) JAX devices exist, before any training."""
    import jax

    avail = len(jax.devices())
    if devices > avail:
        raise ValueError(f"devices must be in 0..{avail} (0: all; {avail} JAX devices available), got {devices}; "
                         f"on a CPU, run with XLA_FLAGS=--xla_force_host_platform_device_count={devices} in the "
                         f"environment to get {devices} CPU devices")


def _base(identity: dict[str, Any], hw: SweepHardware, p: NumericPoint) -> dict[str, Any]:
    return {**identity, **config_fields(hw, p)}


def sweep(model: Any, grid: SweepGrid | dict[SweepHardware, Sequence[NumericPoint]], x: Any, y: Any, *,
          name: str = "sweep", model_name: str = "model", chunk: int = 64, batch_size: int = 150,
          devices: int | None = 1, seed: int = 0, events: bool = True, progress: bool = False
          ) -> list[dict[str, Any]]:
    """Evaluates ``model`` on ``(x, y)`` under every config of ``grid``; returns tidy rows.

    ``grid`` is a :class:`SweepGrid` or already grouped ``{SweepHardware: [NumericPoint, ...]}``.
    One compiled program per static hardware; ``chunk`` configs per vmapped call.
    """
    groups = grid.groups() if isinstance(grid, SweepGrid) else grid
    identity = {"sweep": name, "model": model_name, "model_spec": "", "seed": seed}
    rows: list[dict[str, Any]] = []
    total = sum(len(v) for v in groups.values())
    bar = _bar(total, 0, progress, name)
    for hw, points in groups.items():
        ev = SweepEvaluator(model, hw, x, y, batch_size=batch_size, devices=devices, seed=seed, events=events)
        for s in range(0, len(points), chunk):
            part = list(points[s:s + chunk])
            m = ev.evaluate(part, chunk=chunk)
            for i, p in enumerate(part):
                rows += config_rows(_base(identity, hw, p), {k: v[i] for k, v in m.items()})
            bar.update(len(part))
    bar.close()
    return rows


def _from_process_0(model: Any) -> Any:
    """``model`` with process 0's weights on every process (one float training, one cache)."""
    from flax import nnx
    from jax.experimental import multihost_utils

    state = nnx.state(model)
    nnx.update(model, multihost_utils.broadcast_one_to_all(jax_host(state)))
    return model


def jax_host(tree: Any) -> Any:
    import jax

    return jax.tree.map(lambda v: np.asarray(jax.device_get(v)), tree)


def _todo_of_process_0(groups: dict, todo: dict) -> dict:
    """The configs left to evaluate as process 0 found them (its CSV), on every process."""
    from jax.experimental import multihost_utils

    left = {id(p) for pts in todo.values() for p in pts}
    mask = np.array([id(p) in left for pts in groups.values() for p in pts], dtype=np.int32)
    mask = np.asarray(multihost_utils.broadcast_one_to_all(mask)).astype(bool)
    out, i = {}, 0
    for hw, pts in groups.items():
        out[hw] = [p for j, p in enumerate(pts) if mask[i + j]]
        i += len(pts)
    return out


def _bar(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="config", dynamic_ncols=True)


def run_sweep(spec: SweepSpec | str, *, out: str | None = None, model: Any = None, data: Any = None,
              cache_dir: str | None = None, progress: bool = True, plot: bool = True,
              max_chunks: int | None = None, events: bool = True) -> SweepResult:
    """Runs (or resumes) a sweep, appending tidy rows to its CSV (module docstring).

    Args:
      spec: a :class:`SweepSpec` or the path of its TOML / JSON file.
      out: the results CSV (default ``spec.out``, else ``results/<name>.csv``).
      model, data: a trained model and its dataset (default: trained from ``spec.model``, the
        digits split of :func:`~pimjax.apps.sweep.models.load_data`).
      cache_dir: where trained float weights are cached (default: next to the CSV).
      progress: show a progress bar over configs.
      plot: write ``<csv stem>.png`` (:func:`~pimjax.apps.sweep.plot_sweep`) at the end.
      max_chunks: stop after evaluating this many chunks (an "interrupted" sweep; rerun to resume).
      events: also record the numeric events (overflow, NaN, Inf, random bits) as metrics.
    """
    from pimjax.apps.sweep import models as models_mod
    from pimjax.apps.sweep._plots import plot_sweep

    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec or a config path, got {type(spec).__name__}")
    check_devices(spec.devices)
    path = out or spec.out or os.path.join("results", f"{spec.name}.csv")
    if cache_dir is None:
        cache_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "models")
    preflight(cache_dir if model is None else None, files=[path], what="sweep output")  # before any training
    t0 = time.perf_counter()
    data = data if data is not None else models_mod.load_data(spec.model)
    multi = dist.process_count() > 1
    if model is None:
        if multi and not dist.is_writer():
            cache_dir = None  # process 0 caches the weights; the others get process 0's below
        model = models_mod.trained_model(spec.model, cache_dir=cache_dir, data=data)
    if multi:
        model = _from_process_0(model)
    metrics = METRIC_NAMES if events else METRIC_NAMES[:2]
    identity = {"sweep": spec.name, "model": spec.model.name, "model_spec": spec.model.run_key, "seed": spec.seed}
    results = ResultsFile(path, metrics, identity)
    if dist.is_writer():  # process 0 owns the results file and its fingerprint
        fingerprint.check(path, identity, fingerprint.parts(spec, data, model, metrics), results.has_rows())
    done = results.prepare() if dist.is_writer() else set()
    groups = spec.grid.groups()
    total = sum(len(v) for v in groups.values())
    todo = {hw: [p for p in pts if row_key(_base(identity, hw, p)) not in done] for hw, pts in groups.items()}
    if multi:  # process 0's CSV decides what is left: every process then runs the same chunks
        todo = _todo_of_process_0(groups, todo)
    skipped = total - sum(len(v) for v in todo.values())
    bar = _bar(total, skipped, progress and dist.is_writer(), f"sweep {spec.name}")
    devices = spec.devices or None
    evaluated, chunks = 0, 0
    for hw, points in todo.items():
        if not points or (max_chunks is not None and chunks >= max_chunks):
            continue
        ev = SweepEvaluator(model, hw, data.x_test, data.y_test, batch_size=spec.batch_size, devices=devices,
                            seed=spec.seed, events=events)
        for s in range(0, len(points), spec.chunk):
            if max_chunks is not None and chunks >= max_chunks:
                break
            if s == 0 and progress:  # the bar's rate would otherwise count the compile as work
                n = hw.num_slices
                bar.write(f"pimjax sweep: compiling the program of {hw.rows}x{hw.width} arrays x {n} "
                          f"slice{'s' if n != 1 else ''} (first chunk of each static setting) ...", file=sys.stderr)
            part = points[s:s + spec.chunk]
            m = ev.evaluate(part, chunk=spec.chunk)
            rows = []
            for i, p in enumerate(part):
                rows += config_rows(_base(identity, hw, p), {k: m[k][i] for k in metrics})
            if dist.is_writer():  # only process 0 writes (every process holds every row)
                results.append(rows)
            evaluated += len(part)
            chunks += 1
            bar.update(len(part))
    bar.close()
    if multi:
        dist.sync("pimjax sweep: rows written")
    rows = [r for r in read_results(path) if all(str(r[c]) == str(v) for c, v in identity.items())] \
        if dist.is_writer() else []
    png = None
    if plot and rows:
        png = os.path.splitext(path)[0] + ".png"
        if not plot_sweep(rows, png, baseline=models_mod.accuracy(model, data.x_test, data.y_test)):
            png = None
    return SweepResult(path=path, rows=rows, evaluated=evaluated, skipped=skipped,
                       seconds=time.perf_counter() - t0, plot=png)


def summarize(rows: Sequence[dict[str, Any]], metric: str = "accuracy") -> dict[str, Any]:
    """Best and worst config by ``metric`` and the number of configs."""
    ms = [r for r in rows if r["metric"] == metric]
    if not ms:
        return {"configs": 0}
    best = max(ms, key=lambda r: r["value"])
    worst = min(ms, key=lambda r: r["value"])
    strip = lambda r: {k: v for k, v in r.items() if k not in ("metric", "value", "sweep", "model")}  # noqa: E731
    return {"configs": len(ms), "best": {metric: best["value"], **strip(best)},
            "worst": {metric: worst["value"], **strip(worst)}, "mean": float(np.mean([r["value"] for r in ms]))}


__all__ = ["SweepResult", "run_sweep", "summarize", "sweep", "row_key"]

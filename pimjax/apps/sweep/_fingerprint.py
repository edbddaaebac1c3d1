"""What determines a sweep's values, hashed: a resumed sweep must match the file's rows.

A results CSV ``r.csv`` has a companion ``r.csv.fingerprint.json`` holding, for every sweep in
the file (by its identity columns, :data:`~pimjax.apps.sweep._results.IDENTITY_COLUMNS`), the
parts that determine its values and their hash: the grid, the run settings that change values
(``batch_size``, ``seed``), the float model's spec, a digest of the test data, a digest of the
trained weights (the model cache), the recorded metrics and :data:`DATAPATH_VERSION`. A sweep
run into a file that already holds rows of the same identity must have the same fingerprint;
otherwise :func:`check` raises :class:`FingerprintMismatch` listing what changed, and no row is
written (so rows of different settings are never mixed in one file). ``chunk`` and
``devices`` do not change the values (the same bits for every chunking and device count) and
may change on a resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from pimjax.apps._atomic import DamagedFileError, read_json, write_json

DATAPATH_VERSION = 1
"""Raised whenever the emulated datapath's bits change (the rows of an older one are not
comparable: a resume is refused)."""

SUFFIX = ".fingerprint.json"


class FingerprintMismatch(ValueError):
    """A sweep resumed into a results file whose rows were computed with other settings."""


def array_digest(*arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def weights_digest(model: Any) -> str:
    """Digest of a model's parameters (paths, dtypes, shapes, bytes)."""
    import jax
    from flax import nnx

    leaves = jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    h = hashlib.sha256()
    for p, v in leaves:
        h.update(jax.tree_util.keystr(p).encode())
        h.update(array_digest(v).encode())
    return h.hexdigest()[:16]


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic,)):
        return x.item()
    return x


def parts(spec: Any, data: Any, model: Any, metrics: Sequence[str]) -> dict[str, Any]:
    """The value-determining parts of a sweep (module docstring)."""
    return {"grid": _jsonable(dataclasses.asdict(spec.grid)),
            "run": {"batch_size": spec.batch_size, "seed": spec.seed},
            "model": _jsonable(dataclasses.asdict(spec.model)),
            "data": array_digest(data.x_test, data.y_test),
            "weights": weights_digest(model),
            "metrics": list(metrics),
            "datapath_version": DATAPATH_VERSION}


def digest(p: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:16]


def identity_key(identity: Mapping[str, Any]) -> str:
    return "|".join(f"{k}={identity[k]}" for k in sorted(identity))


def _describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for f in sorted(set(a) | set(b)):
                if a.get(f) != b.get(f):
                    out.append(f"{k}.{f}: {a.get(f)!r} in the file, {b.get(f)!r} now")
        elif k in ("data", "weights"):
            out.append(f"{k}: digest {a} in the file, {b} now (the {'test data' if k == 'data' else 'trained float weights (model cache)'} changed)")
        else:
            out.append(f"{k}: {a!r} in the file, {b!r} now")
    return out


def sidecar(results_path: str) -> str:
    return os.fspath(results_path) + SUFFIX


def check(results_path: str, identity: Mapping[str, Any], now: Mapping[str, Any], has_rows: bool) -> None:
    """Refuses (:class:`FingerprintMismatch`) a sweep whose parts ``now`` differ from those
    recorded for its identity in ``results_path`` when the file already has its rows
    (``has_rows``); otherwise records them (atomically) so later resumes are checked."""
    path = sidecar(results_path)
    key = identity_key(identity)
    book: dict[str, Any] = {"format": 1, "sweeps": {}}
    if os.path.exists(path):
        try:
            book = read_json(path, "sweep fingerprint file")
            if not isinstance(book, dict) or not isinstance(book.get("sweeps"), dict):
                raise DamagedFileError(f"sweep fingerprint file {path} is damaged (not a fingerprint file)")
        except DamagedFileError as e:
            if has_rows:
                raise FingerprintMismatch(f"{e}: cannot check that {results_path}'s rows were computed with "
                                          f"these settings; use another --out") from None
            book = {"format": 1, "sweeps": {}}
    rec = book["sweeps"].get(key)
    if has_rows:
        if rec is None:
            raise FingerprintMismatch(
                f"{results_path} holds rows of sweep {identity.get('sweep')!r} but no fingerprint of their settings "
                f"({path} is missing or lacks it: written by an older pimjax?); its values cannot be checked "
                f"against this run's, so it is not resumed: write to a new file (--out NEW.csv)")
        if rec.get("fingerprint") != digest(now):
            changes = _describe(rec.get("parts", {}), now) or ["(the recorded parts are unreadable)"]
            raise FingerprintMismatch(
                f"{results_path} holds rows of sweep {identity.get('sweep')!r} computed with other settings, so "
                f"resuming would mix rows: {'; '.join(changes)}. Restore those settings to resume, or write to a "
                f"new file (--out NEW.csv)")
        return
    book["sweeps"][key] = {"fingerprint": digest(now), "parts": dict(now)}
    write_json(path, book, indent=1)


__all__ = ["DATAPATH_VERSION", "FingerprintMismatch", "array_digest", "check", "digest", "parts", "sidecar",
           "weights_digest"]

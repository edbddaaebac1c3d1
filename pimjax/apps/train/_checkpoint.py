"""Training checkpoints: saved as one unit, verified by checksum, with a fallback on resume.

A checkpoint of step ``N`` in ``out_dir/checkpoints`` is three things:

- ``step_NNNNNNNN/``: the orbax checkpoint of the model and optimizer state (arrays);
- ``step_NNNNNNNN.json``: its metadata (the run's config, the epoch state, the metrics rows so
  far), strict JSON;
- ``step_NNNNNNNN.manifest.json``: the size and sha256 of every file of the two above, written
  last, atomically. It marks the checkpoint complete.

:func:`save` removes an earlier manifest of the same step first, then writes the arrays, the
metadata and the manifest, in that order; a kill at any point therefore leaves the step without
a manifest (incomplete) and every earlier checkpoint as it was. :func:`newest_intact` checks
the checkpoints newest first against their manifests; a damaged or incomplete one is reported
by name and moved to ``checkpoints/damaged/`` (kept, not deleted), and the newest intact one is
used, saying so; when none is intact it raises :class:`CheckpointError` naming each and why.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from typing import Any, Callable

import jax

from pimjax.apps._atomic import DamagedFileError, preflight, read_json, sha256_file, write_json

MANIFEST = ".manifest.json"
DAMAGED = "damaged"
_CKPT = re.compile(r"^step_\d{8}$")


class CheckpointError(ValueError):
    """No checkpoint can be resumed (each is damaged or incomplete), or one cannot be written."""


def _stage(name: str) -> None:
    """Called between the stages of :func:`save` (``"begin"``, ``"arrays"``, ``"metadata"``,
    ``"manifest"``); does nothing. Tests replace it to simulate a kill at each stage."""


def ckpt_name(step: int) -> str:
    return f"step_{step:08d}"


def checkpoints(ckpt_dir: str) -> list[str]:
    """The checkpoint directories in ``ckpt_dir`` (``step_NNNNNNNN``; never an orbax temporary
    directory), oldest first, complete or not."""
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(d for d in os.listdir(ckpt_dir) if _CKPT.match(d) and os.path.isdir(os.path.join(ckpt_dir, d)))


def latest(ckpt_dir: str) -> str | None:
    """The newest checkpoint directory (not verified), or None."""
    steps = checkpoints(ckpt_dir)
    return os.path.join(ckpt_dir, steps[-1]) if steps else None


def _files(path: str) -> list[str]:
    out = []
    for root, _, names in os.walk(path):
        out += [os.path.relpath(os.path.join(root, n), path) for n in names]
    return sorted(out)


def _entry(path: str) -> dict[str, Any]:
    return {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}


def save(ckpt_dir: str, step: int, state: Any, meta: dict[str, Any], *, writer: bool = True) -> str:
    """Saves ``state`` (a pytree of arrays) and ``meta`` (JSON) as checkpoint ``step`` (module
    docstring); returns its path. A failure to write raises :class:`CheckpointError`.

    With several processes every one calls this (orbax saves the arrays on every host); only the
    ``writer`` (process 0) clears old temporaries and writes the metadata and the manifest."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(os.path.join(ckpt_dir, ckpt_name(step)))
    try:
        os.makedirs(ckpt_dir, exist_ok=True)
        if not writer:
            with ocp.StandardCheckpointer() as ck:
                ck.save(path, state, force=True)
            return path
        if os.path.exists(path + MANIFEST):  # an earlier save of this step (a resumed run): incomplete from here on
            os.remove(path + MANIFEST)
        name = os.path.basename(path)
        for left in os.listdir(ckpt_dir):  # what a killed save of this step left: temporaries, never data
            full = os.path.join(ckpt_dir, left)
            if left.startswith(name + ".orbax-checkpoint-tmp") and os.path.isdir(full):
                shutil.rmtree(full, ignore_errors=True)
            elif left.startswith("." + name) and left.endswith(".tmp") and os.path.isfile(full):
                os.remove(full)
        # a directory that became unwritable or full since the run's preflight: one clear error
        # here, before orbax (whose failure is a long traceback and a wait in its barrier)
        nbytes = sum(int(getattr(x, "nbytes", 0)) for x in jax.tree.leaves(state))
        preflight(ckpt_dir, what="checkpoint", min_free=2 * nbytes + (1 << 20))
        _stage("begin")
        with ocp.StandardCheckpointer() as ck:
            ck.save(path, state, force=True)
        _stage("arrays")
        write_json(path + ".json", meta, indent=1)
        _stage("metadata")
        files = {rel: _entry(os.path.join(path, rel)) for rel in _files(path)}
        write_json(path + MANIFEST, {"format": 1, "step": step, "files": files,
                                     "metadata": _entry(path + ".json")}, indent=1)
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    _stage("manifest")
    return path


def verify(path: str) -> str | None:
    """Why the checkpoint at ``path`` cannot be resumed, or None when it is intact."""
    name = os.path.basename(path)
    if not os.path.exists(path + MANIFEST):
        return f"incomplete: no {name}{MANIFEST} (its save did not finish, or an older pimjax wrote it)"
    try:
        man = read_json(path + MANIFEST, "manifest")
        files, meta = man["files"], man["metadata"]
    except (DamagedFileError, KeyError, TypeError) as e:
        return f"its manifest {name}{MANIFEST} is damaged ({e})"
    for rel, want in [*((os.path.join(name, r), w) for r, w in files.items()), (name + ".json", meta)]:
        full = os.path.join(os.path.dirname(path), rel)
        if not os.path.isfile(full):
            return f"{rel} is missing"
        if os.path.getsize(full) != want["bytes"]:
            return f"{rel} is damaged ({os.path.getsize(full)} bytes, {want['bytes']} written)"
        if sha256_file(full) != want["sha256"]:
            return f"{rel} is damaged (its sha256 differs from the one written with it)"
    return None


def _move_aside(ckpt_dir: str, name: str) -> str:
    dest_dir = os.path.join(ckpt_dir, DAMAGED)
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, name)
    if os.path.exists(dest):
        dest = f"{dest}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
    for suffix in ("", ".json", MANIFEST):
        src = os.path.join(ckpt_dir, name + suffix)
        if os.path.exists(src):
            shutil.move(src, dest + suffix)
    return dest


def newest_intact(ckpt_dir: str, log: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]] | None:
    """The newest intact checkpoint in ``ckpt_dir`` and its metadata (None when there is no
    checkpoint at all). Damaged or incomplete newer ones are reported through ``log`` (default:
    stderr) and moved to ``checkpoints/damaged/``; none intact raises :class:`CheckpointError`."""
    log = log or (lambda m: print(f"pimjax train: {m}", file=sys.stderr))
    names = checkpoints(ckpt_dir)
    if os.path.isdir(ckpt_dir):  # saves killed before their arrays were complete: temporaries only
        left = sorted(f for f in os.listdir(ckpt_dir) if ".orbax-checkpoint-tmp" in f
                      or (f.startswith(".step_") and f.endswith(".tmp")))
        if left:
            steps = sorted({f.lstrip(".")[:13] for f in left})
            log(f"unfinished saves of {', '.join(steps)} left temporary files ({', '.join(left)}): removed; "
                f"those saves are redone from the newest intact checkpoint")
            for f in left:
                full = os.path.join(ckpt_dir, f)
                shutil.rmtree(full, ignore_errors=True) if os.path.isdir(full) else os.remove(full)
    bad: list[str] = []
    for name in reversed(names):
        path = os.path.join(ckpt_dir, name)
        why = verify(path)
        if why is None:
            try:
                meta = read_json(path + ".json", "checkpoint metadata")
            except DamagedFileError as e:  # verified a moment ago: changed since
                why = str(e)
        if why is not None:
            bad.append(f"{name}: {why}")
            continue
        if bad:
            log(f"checkpoint {bad[-1].split(':')[0]} .. {names[-1]} cannot be resumed ({'; '.join(bad)}); "
                f"moved to {os.path.join(ckpt_dir, DAMAGED)}; falling back to {name}, the newest intact checkpoint")
            for b in bad:
                _move_aside(ckpt_dir, b.split(":")[0])
        else:
            log(f"resuming from {path} (verified)")
        return path, meta
    if bad:
        raise CheckpointError(f"no intact checkpoint in {ckpt_dir} to resume from ({'; '.join(bad)}): start again "
                              f"with --overwrite (deletes them) or use another --out")
    return None


def remove_all(ckpt_dir: str) -> list[str]:
    """Deletes every checkpoint in ``ckpt_dir`` (with its metadata and manifest); returns their names."""
    old = checkpoints(ckpt_dir)
    for d in old:
        shutil.rmtree(os.path.join(ckpt_dir, d))
        for suffix in (".json", MANIFEST):
            if os.path.exists(os.path.join(ckpt_dir, d + suffix)):
                os.remove(os.path.join(ckpt_dir, d + suffix))
    return old


__all__ = ["CheckpointError", "checkpoints", "ckpt_name", "latest", "newest_intact", "remove_all", "save", "verify"]

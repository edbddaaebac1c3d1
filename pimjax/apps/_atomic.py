"""Crash-safe outputs: atomic writes, checksums, strict JSON and a preflight of output paths.

Every file the apps write goes through :func:`atomic_write` (or one of its wrappers): the
content is written to a temporary file in the same directory, flushed and ``fsync``-ed, then
renamed over the target (and the directory ``fsync``-ed), so a kill at any point leaves either
the old file or the new one, never a cut one. :func:`preflight` checks that output directories
can be created and written and have free space, before anything compiles, and raises
:class:`OutputError` (an ``OSError`` whose message is one line naming the path) otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from typing import Any, Iterable, Iterator, Mapping, Sequence

MIN_FREE_BYTES = 64 << 20
"""Free space :func:`preflight` asks of an output directory by default (64 MiB)."""


class OutputError(OSError):
    """An output path that cannot be written (message: one line naming it and why)."""


class DamagedFileError(ValueError):
    """A file that exists but cannot be read back (cut short, overwritten, not what it should be)."""


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kw: Any) -> Iterator[Any]:
    """``open`` for writing, atomically: the target appears complete (or not at all) when the
    block exits without an exception; on an exception the temporary file is removed."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(d)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Writes ``data`` (text or bytes) to ``path`` atomically (module docstring)."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def strict(obj: Any, path: str = "", found: list[str] | None = None) -> tuple[Any, list[str]]:
    """``obj`` with every non-finite float replaced by ``None``; also returns where they were
    (``a/b/0``-style paths), so a writer can flag them: strict JSON has no NaN or Infinity."""
    found = [] if found is None else found
    if isinstance(obj, float) and not math.isfinite(obj):
        found.append(path)
        return None, found
    if isinstance(obj, Mapping):
        return {k: strict(v, f"{path}/{k}" if path else str(k), found)[0] for k, v in obj.items()}, found
    if isinstance(obj, (list, tuple)):
        return [strict(v, f"{path}/{i}" if path else str(i), found)[0] for i, v in enumerate(obj)], found
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # numpy / jax scalars
        return strict(obj.item(), path, found)
    return obj, found


def strict_dumps(obj: Any, **kw: Any) -> str:
    """JSON text without NaN/Infinity: non-finite numbers become ``null`` (:func:`strict`)."""
    return json.dumps(strict(obj)[0], allow_nan=False, **kw)


def flag_nonfinite(row: Mapping[str, Any]) -> dict[str, Any]:
    """A metrics row for strict JSON: non-finite numbers as ``None`` and, when there were any,
    ``"nonfinite"``: the names of those fields."""
    clean, found = strict(dict(row))
    if found:
        clean["nonfinite"] = found
    return clean


def write_json(path: str | os.PathLike, obj: Any, **kw: Any) -> None:
    """Strict JSON (:func:`strict_dumps`), written atomically."""
    atomic_write(path, strict_dumps(obj, **kw) + "\n")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Reads JSON; a cut or damaged file raises :class:`DamagedFileError` naming it."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedFileError(f"{what} {path} is damaged (cut short or overwritten: {e})") from None


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fieldnames: Iterable[str] | None = None) -> None:
    """A CSV of ``rows`` (header: ``fieldnames``, default every key in order of appearance), atomically."""
    keys = list(fieldnames) if fieldnames is not None else list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue())


def savefig(fig: Any, path: str | os.PathLike, **kw: Any) -> None:
    """``fig.savefig`` atomically (the format taken from ``path``'s extension)."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or None
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, **kw)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def preflight(*dirs: str | os.PathLike | None, files: Sequence[str | os.PathLike] = (), what: str = "output",
              min_free: int = MIN_FREE_BYTES) -> None:
    """Checks, in seconds and before any work, that every directory of ``dirs`` (and the
    directory of every file of ``files``) can be created and written and has ``min_free`` bytes
    free, and that every existing file of ``files`` can be opened for appending; raises
    :class:`OutputError` with a one-line message naming the path otherwise."""
    targets = [os.fspath(d) for d in dirs if d] + [os.path.dirname(os.path.abspath(os.fspath(p))) for p in files]
    for d in dict.fromkeys(targets):
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{what} directory {d} cannot be created: {e.strerror or e}") from None
        if not os.path.isdir(d):
            raise OutputError(f"{what} directory {d} is not a directory")
        try:
            fd, probe = tempfile.mkstemp(dir=d, prefix=".pimjax-preflight-")
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.remove(probe)
        except OSError as e:
            raise OutputError(f"{what} directory {d} is not writable: {e.strerror or e}") from None
        free = shutil.disk_usage(d).free
        if free < min_free:
            raise OutputError(f"{what} directory {d} has {free / 2**20:.1f} MiB free, fewer than the "
                              f"{min_free / 2**20:.0f} MiB a run needs")
    for p in files:
        p = os.fspath(p)
        if os.path.exists(p):
            try:
                with open(p, "ab"):
                    pass
            except OSError as e:
                raise OutputError(f"{what} file {p} is not writable: {e.strerror or e}") from None


__all__ = ["DamagedFileError", "MIN_FREE_BYTES", "OutputError", "atomic_open", "atomic_write", "flag_nonfinite",
           "preflight", "read_json", "savefig", "sha256_file", "strict", "strict_dumps", "write_csv", "write_json"]

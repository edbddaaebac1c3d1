"""JAX's persistent compilation cache for pimjax programs (the CLI turns it on).

An emulated training step compiles to a much larger program than its float32 counterpart
(quantization, rounding and event counting per phase), so a second ``pimjax train`` (or
``sweep``, ``cost``) of the same model and hardware should not pay that compile again.
:func:`enable_compile_cache` points JAX's persistent cache at a directory:

* ``path`` if given, else ``$PIMJAX_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/pimjax/jax``
  (``~/.cache/pimjax/jax`` when ``XDG_CACHE_HOME`` is unset);
* ``PIMJAX_NO_COMPILE_CACHE=1`` (or ``true`` / ``yes``) disables it: nothing is changed;
* a cache directory already configured (``jax.config.jax_compilation_cache_dir`` set, e.g.
  by ``JAX_COMPILATION_CACHE_DIR`` or a test harness) is kept unless ``path`` is given.

Only programs that took at least ``min_compile_secs`` (default 1 s) to compile are stored:
the small eager programs are faster to recompile than to read back. Cached executables are
keyed by JAX on the program, the backend and the compile options, so a hit returns the same
executable (the same bits); a stale or unreadable directory only costs a recompile.
"""

from __future__ import annotations

import os
from typing import Any

import jax

DISABLE_ENV = "PIMJAX_NO_COMPILE_CACHE"
DIR_ENV = "PIMJAX_CACHE_DIR"


def default_cache_dir() -> str:
    """``$PIMJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/pimjax/jax`` (``~/.cache/pimjax/jax``)."""
    env = os.environ.get(DIR_ENV)
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pimjax", "jax")


def compile_cache_disabled() -> bool:
    """True when ``$PIMJAX_NO_COMPILE_CACHE`` asks for no persistent cache."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def enable_compile_cache(path: str | os.PathLike | None = None, *, min_compile_secs: float = 1.0) -> str | None:
    """Turns JAX's persistent compilation cache on (module docstring); returns its directory,
    or ``None`` when disabled by ``$PIMJAX_NO_COMPILE_CACHE`` or the directory cannot be made.

    Call it before the first compile (the CLI calls it at start-up); calling it again is
    harmless.
    """
    if compile_cache_disabled():
        return None
    current: Any = jax.config.jax_compilation_cache_dir
    if path is None and current:
        return str(current)
    d = os.fspath(path) if path is not None else default_cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", d)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return d


__all__ = ["compile_cache_disabled", "default_cache_dir", "enable_compile_cache"]

"""Shared pytest setup.

Multi-device tests run on fake CPU devices: ``XLA_FLAGS`` must be set before JAX is first
imported, which is why this happens at the top of the conftest (pytest imports it before any
test module). Hypothesis gets bounded profiles: ``ci`` (used when ``CI`` is set) and ``dev``;
pick one explicitly with ``HYPOTHESIS_PROFILE=...``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import tempfile  # noqa: E402

import jax  # noqa: E402

# One persistent compilation cache for the session (and its xdist workers): tests that build
# the same program again (a resumed run, the same model on other data) load it instead of
# compiling it anew. Programs are keyed by their HLO, so a hit gives the same executable.
_CACHE = os.environ.get("PIMJAX_TEST_COMPILE_CACHE") or os.path.join(tempfile.gettempdir(), "pimjax-test-jax-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the [test] extra installs hypothesis; without it only its tests fail
    settings = None

if settings is not None:
    # JAX compiles on first use, so example timing says nothing: no deadline, no too_slow.
    settings.register_profile(
        "ci",
        max_examples=25,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "dev",
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    _default = "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))

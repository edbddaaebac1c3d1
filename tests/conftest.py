"""Shared pytest setup.

Multi-device tests run on fake CPU devices: ``XLA_FLAGS`` must be set before JAX is first
imported, which is why this happens at the top of the conftest (pytest imports it before any
test module). Hypothesis gets two profiles: ``quick`` (the default run) and ``thorough``
(``PIMJAX_TEST_THOROUGH=1``, see ``tests/budget.py``); ``HYPOTHESIS_PROFILE=...`` picks one.
"""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import tempfile  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

# One persistent compilation cache for the session (and its xdist workers): tests that build
# the same program again (a resumed run, the same model on other data) load it instead of
# compiling it anew. Programs are keyed by their HLO, so a hit gives the same executable.
_CACHE = os.environ.get("PIMJAX_TEST_COMPILE_CACHE") or os.path.join(tempfile.gettempdir(), "pimjax-test-jax-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the [test] extra installs hypothesis; without it only its tests fail
    settings = None

if settings is not None:
    from budget import THOROUGH  # noqa: E402

    # JAX compiles on first use, so example timing says nothing: no deadline, no too_slow.
    # "quick" is the default run (README, CI); "thorough" is PIMJAX_TEST_THOROUGH=1 (tests/budget.py).
    settings.register_profile(
        "quick",
        max_examples=10,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "thorough",
        max_examples=100,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "thorough" if THOROUGH else "quick"))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """An xdist worker that has reported its last result leaves at once: tearing down its
    interpreter (thousands of compiled programs, JAX's caches) took ~10 s of the suite's wall
    time after the last test. Not under coverage, whose data is written at exit."""
    if hasattr(config, "workerinput") and "coverage" not in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

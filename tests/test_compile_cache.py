"""pimjax._compile_cache.enable_compile_cache: directory choice, the opt-out, idempotence."""

from __future__ import annotations

import jax
import pytest

from pimjax import _compile_cache as cc


@pytest.fixture
def restore_cache_config():
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    saved = {k: getattr(jax.config, k) for k in keys}
    yield
    for k, v in saved.items():
        jax.config.update(k, v)


def test_default_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv(cc.DIR_ENV, str(tmp_path / "c"))
    assert cc.default_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv(cc.DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cc.default_cache_dir() == str(tmp_path / "x" / "pimjax" / "jax")


def test_enable_and_disable(monkeypatch, tmp_path, restore_cache_config):
    monkeypatch.setenv(cc.DISABLE_ENV, "1")
    assert cc.enable_compile_cache(tmp_path / "a") is None
    assert not (tmp_path / "a").exists()
    monkeypatch.delenv(cc.DISABLE_ENV)
    d = cc.enable_compile_cache(tmp_path / "a", min_compile_secs=2.0)
    assert d == str(tmp_path / "a") and (tmp_path / "a").is_dir()
    assert jax.config.jax_compilation_cache_dir == d
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 2.0
    # a configured directory is kept when no path is given
    assert cc.enable_compile_cache() == d

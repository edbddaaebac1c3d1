"""Runs the doctested examples in pimjax's docstrings."""

import doctest
import importlib
import pkgutil

import pytest

import pimjax

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(pimjax.__path__, prefix="pimjax.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(name)
    failures, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0

"""The ``pimjax`` command line: ``run_demo`` numbers are sane, subcommands print what they should."""

import json
import math
import subprocess
import sys

import pytest

from pimjax import cli
from pimjax.hw import ArrayConfig, presets
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

ARRAY_PRESETS = [n for n in presets.names() if isinstance(presets.get(n), ArrayConfig)]
TINY = dict(m=4, k=32, n=8)


def test_run_demo_default_preset_is_accurate_and_narrow_overflows():
    r = cli.run_demo(**TINY)
    assert r["preset"] == cli.DEFAULT_PRESET == "memory_slices"
    assert tuple(r["shape"]) == (4, 32, 8)
    ok, narrow = r["configured"], r["narrow"]
    # 16-bit fixed point (Q8.8) on values of order 1: errors of order 1e-2 at most.
    assert math.isfinite(ok["max_abs_error"]) and math.isfinite(ok["rms_error"])
    assert 0 <= ok["rms_error"] <= ok["max_abs_error"] < 0.1
    assert ok["overflow"] == ok["nan"] == ok["inf"] == 0
    # The narrowed output format ([-1, 1)) cannot hold these values: overflow is counted.
    assert narrow["overflow"] > 0
    assert narrow["max_abs_error"] > ok["max_abs_error"]
    assert narrow["nan"] == narrow["inf"] == 0


def test_run_demo_is_deterministic():
    assert cli.run_demo(**TINY, seed=3) == cli.run_demo(**TINY, seed=3)


@pytest.mark.parametrize("preset", quick_subset(ARRAY_PRESETS, {"neurotrainer_ff"}))
def test_run_demo_every_array_preset(preset):
    r = cli.run_demo(**TINY, preset=preset)
    ok = r["configured"]
    assert math.isfinite(ok["max_abs_error"]) and ok["max_abs_error"] < 0.1
    assert ok["nan"] == ok["inf"] == 0
    for entry in (r["configured"], r["narrow"]):
        assert set(entry) >= {"output_format", "max_abs_error", "rms_error", "overflow", "nan", "inf", "random_bits"}
        assert all(entry[f] >= 0 for f in ("overflow", "nan", "inf", "random_bits"))


def test_run_demo_rejects_bad_arguments():
    with pytest.raises(ValueError):
        cli.run_demo(0, 4, 4)
    with pytest.raises(ValueError):
        cli.run_demo(**TINY, preset="no_such_preset")


def test_presets_lists_every_preset(capsys):
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in presets.names():
        assert name in out


def test_demo_prints_report(capsys):
    assert cli.main(["demo", "--m", "4", "--k", "32", "--n", "8"]) == 0
    out = capsys.readouterr().out
    assert "memory_slices" in out and "overflow" in out and "narrow" in out


def test_plain_pimjax_runs_the_demo(capsys):
    assert cli.main(["--m", "2", "--k", "8", "--n", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shape"] == [2, 8, 2]


def test_demo_json(capsys):
    assert cli.main(["demo", "--m", "2", "--k", "16", "--n", "4", "--seed", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["shape"] == [2, 16, 4] and r["seed"] == 1 and r["narrow"]["overflow"] >= 0


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--hw", "no_such_preset"])
    assert e.value.code == 2
    assert "memory_slices" in capsys.readouterr().err


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "pimjax", "presets"], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    assert "memory_slices" in out

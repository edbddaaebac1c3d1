"""Bad command-line input is a usage error (exit status 2, the field and its valid range on
stderr), never a traceback; errors past the checks of the input still raise."""

from __future__ import annotations

import pytest

from pimjax import cli
from pimjax.apps import argtypes
from pimjax.hw import ArrayConfig, presets

ARRAY_PRESETS = [n for n in presets.names() if isinstance(presets.get(n), ArrayConfig)]
SYSTEM_PRESETS = [n for n in presets.names() if n not in ARRAY_PRESETS]


def _usage_error(capsys, argv: list[str]) -> str:
    """Runs ``pimjax argv`` in-process; asserts exit status 2 and returns stderr."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
    return err


def test_demo_rejects_a_system_preset_and_lists_only_array_presets(capsys):
    assert cli.array_presets() == ARRAY_PRESETS
    for argv in (["demo", "--hw", "slices_hmc2"], ["--hw", "slices_hmc2"], ["demo", "--hw", "nope"]):
        err = _usage_error(capsys, argv)
        assert "is not an array preset" in err and "memory_slices" in err
        listed = err.split("array presets:")[1]
        assert all(name not in listed.split(", ") for name in SYSTEM_PRESETS)
    with pytest.raises(ValueError, match="not an array preset; array presets: memory_slices"):
        cli.run_demo(2, 8, 2, preset="slices_hmc2")


def test_demo_seed_must_be_non_negative(capsys):
    for seed in ("-1", str(2**63), "x"):
        assert "argument --seed" in _usage_error(capsys, ["demo", "--seed", seed])
    assert "must be in 0..9223372036854775807, got -1" in _usage_error(capsys, ["demo", "--seed", "-1"])
    for seed in (-1, 2**63, 1.5, True):
        with pytest.raises(ValueError, match=r"^seed must be an integer in 0\.\."):
            cli.run_demo(2, 8, 2, seed=seed)
    assert cli.main(["demo", "--m", "2", "--k", "8", "--n", "2", "--seed", str(2**63 - 1), "--json"]) == 0


@pytest.mark.parametrize("width", ["0", "-1", "nan", "inf", "x"])
def test_cost_model_width_must_be_finite_and_positive(capsys, width):
    err = _usage_error(capsys, ["cost", "--model-width", width])
    assert "argument --model-width" in err and ("> 0" in err or "not a number" in err)


@pytest.mark.parametrize("argv, message", [
    (["--model", "alexnet", "--input-size", "4"], "AlexNet needs --input-size >= 8"),
    (["--slices", "100000"], "argument --slices: must be in 1..65536, got 100000"),
    (["--slices", "0"], "argument --slices: must be in 1..65536, got 0"),
    (["--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
])
def test_cost_bad_sizes_are_usage_errors(capsys, argv, message):
    assert message in _usage_error(capsys, ["cost", *argv])


@pytest.mark.parametrize("argv, message", [
    (["--input-size", "1"], "AlexNet needs --input-size >= 8"),
    (["--pes", "70000"], "argument --pes: PE counts must be integers in 1..65536"),
    (["--pes", "4,0"], "argument --pes: PE counts must be integers in 1..65536"),
    (["--images", "2000000"], "argument --images: must be in 1..1000000, got 2000000"),
    (["--cache-speedup", "1e7"], "argument --cache-speedup: must be a finite number in [1, 1e+06]"),
    (["--cache-speedup", "nan"], "argument --cache-speedup: must be a finite number in [1, 1e+06]"),
    (["--model-width", "inf"], "argument --model-width: must be a finite number > 0"),
    (["--buffer", "9" * 30], "argument --buffer: must be at most 4611686018427387904 bytes"),
])
def test_schedule_bad_sizes_are_usage_errors(capsys, argv, message):
    assert message in _usage_error(capsys, ["schedule", *argv])


def test_errors_after_the_input_checks_are_not_usage_errors(monkeypatch):
    """Only the construction of the inputs is turned into usage errors: an error in the work
    that follows (here a stand-in internal error) still raises."""
    import pimjax.apps.cost._model_costs as model_costs
    import pimjax.apps.schedule as schedule

    def broken(*a, **k):
        raise ValueError("internal error")

    monkeypatch.setattr(model_costs, "gemm_costs", broken)
    with pytest.raises(ValueError, match="internal error"):
        cli.main(["cost", "--model", "alexnet", "--input-size", "32", "--batch-size", "2", "--slices", "4"])
    monkeypatch.setattr(schedule, "compare", broken)
    with pytest.raises(ValueError, match="internal error"):
        cli.main(["schedule", "--input-size", "16", "--model-width", "0.125", "--pes", "4", "--images", "4"])


def test_argtypes_ranges():
    assert argtypes.int_in(0, 3)("3") == 3 and argtypes.positive_int("7") == 7
    assert argtypes.number_in(0.0, lo_open=True)("1e-9") == 1e-9
    assert argtypes.number_in(1.0, 2.0)("2") == 2.0
    for parse, text in ((argtypes.int_in(0, 3), "4"), (argtypes.int_in(0, 3), "-1"), (argtypes.positive_int, "0"),
                        (argtypes.number_in(0.0, lo_open=True), "0"), (argtypes.number_in(1.0, 2.0), "2.5"),
                        (argtypes.number_in(1.0), "-inf")):
        with pytest.raises(argtypes.argparse.ArgumentTypeError):
            parse(text)

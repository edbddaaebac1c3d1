"""``pimjax train``: the report on stdout (JSON alone with --json), bad input as usage errors."""

import json

import numpy as np
import pytest

from pimjax.cli import main

TINY = ["train", "--model", "cnn_d1_k3_c4", "--input-size", "8", "--array-rows", "8", "--array-width", "4",
        "--no-progress", "--max-steps", "1"]


@pytest.fixture(scope="module")
def twelve_images(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "twelve.npz"
    np.savez(path, x_train=rng.uniform(0, 1, (12, 8, 8)).astype(np.float32), y_train=np.arange(12) % 3,
             x_test=rng.uniform(0, 1, (4, 8, 8)).astype(np.float32), y_test=np.arange(4) % 3)
    return str(path)


@pytest.mark.slow  # one more CLI training run; the resumed run of test_out_resume_overwrite_say_what_they_do is --json
def test_json_is_all_of_stdout(twelve_images, capsys):
    assert main([*TINY, "--dataset", twelve_images, "--batch-size", "8", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["steps"] == 1 and report["epochs"][0]["partial"] is False
    assert set(report["load_events"]) >= {"overflow", "nan", "inf"} and "overflow" in report["events"]
    assert "train loss" in err and "compiling the training step (first step only)" in err


@pytest.mark.slow  # a third CLI training run; test_train_report checks the table's format
def test_text_report(twelve_images, capsys):
    """The cost table of the step's batch and the weights saturated at load (Q0.7)."""
    assert main([*TINY, "--dataset", twelve_images, "--batch-size", "4", "--weight-bits", "8",
                 "--weight-frac", "7"]) == 0
    out = capsys.readouterr().out
    assert "cost of one training step (batch 4)" in out and "TOTAL" in out
    load = next(line for line in out.splitlines() if line.startswith("resident weights at load:"))
    assert int(load.split()[4]) >= 1
    # the run's matmul events as exact integers, the random bits of BP/UP's stochastic rounding included
    run = next(line for line in out.splitlines() if line.startswith("emulated matmul events"))
    assert run.endswith(" random bits") and int(run.split(", ")[-1].split()[0]) > 0
    total = next(line for line in out.splitlines() if line.startswith("TOTAL") and line.split()[1] == "bp")
    assert int(total.split()[-1]) > 0  # the table's SR bits column: an exact integer
    assert "final test accuracy" in out


@pytest.mark.parametrize("args, field", [
    (["--slices", "0"], "--slices must"), (["--batch-size", "0"], "--batch-size must"),
    (["--lr", "-1"], "--lr must"), (["--epochs", "0"], "--epochs must"),
    (["--seed", "-1"], "--seed must"), (["--slices", "1024", "--devices", "1024"], "--devices must"),
    (["--model", "nosuch"], "--model"), (["--dataset", "foo.csv"], "--dataset"),
    (["--dataset", "nofile.npz"], "no such dataset file"), (["--resume"], "--resume needs --out"),
    (["--checkpoint-every", "5"], "--checkpoint-every needs --out"),
])
def test_bad_values_are_usage_errors(args, field, capsys):
    with pytest.raises(SystemExit) as e:
        main([*TINY, *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_out_resume_overwrite_say_what_they_do(twelve_images, tmp_path, capsys, monkeypatch):
    """--out lists the files it wrote; --resume says the step; --overwrite removes the earlier
    run's metrics with its checkpoints (an interrupted overwrite leaves no stale metrics)."""
    run = [*TINY[:-2], "--dataset", twelve_images, "--batch-size", "4", "--epochs", "2", "--out", str(tmp_path)]
    assert main([*run, "--max-steps", "3"]) == 0
    out, err = capsys.readouterr()
    wrote = next(line for line in out.splitlines() if line.startswith("wrote "))
    for name in ("metrics.json", "metrics.csv", "costs.csv", "checkpoints"):
        assert str(tmp_path / name) in wrote
    assert "1 slice," in out and "1 slices" not in out
    assert main([*run, "--max-steps", "4", "--resume", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "resuming from step 3 of 4" in err
    report = json.loads(out)  # --json: the report is all of stdout (test_json_is_all_of_stdout, slow)
    assert report["steps"] == 4 and [r["epoch"] for r in report["epochs"]] == [1, 2]
    import pimjax.apps.train._loop as loop

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_run", interrupted)
    assert main([*run, "--overwrite"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in ("metrics.json", "metrics.csv", "costs.csv"))
    assert not list((tmp_path / "checkpoints").glob("step_*"))


def test_native_prints_no_cost_table(twelve_images, capsys):
    assert main([*TINY, "--dataset", twelve_images, "--batch-size", "4", "--hw", "native"]) == 0
    out = capsys.readouterr().out
    assert "TOTAL" not in out and "nothing emulated" in out

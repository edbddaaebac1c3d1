"""Nothing lost, nothing silent: faults injected into every output path.

Checkpoints (kills at every stage of a save; random bytes, truncation, zeros and a missing file
in every file type), atomic outputs, the preflight of output directories, sweep fingerprints,
the sweep model cache and the non-finite policy. Tests here work on small pytrees and files;
the end-to-end drills through the CLI are ``scripts/fault_drill.py`` (and the slow tests at
the end).
"""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from pimjax.apps import _atomic
from pimjax.apps.train import _checkpoint as ckpt
from pimjax.apps.train._nonfinite import NonFiniteError, NonFiniteWatch


# --------------------------------------------------------------------------- atomic outputs

class Killed(BaseException):
    """A simulated kill (not an Exception: nothing may catch it on the way out)."""


def test_atomic_write_leaves_old_or_new(tmp_path, monkeypatch):
    p = tmp_path / "m.json"
    _atomic.write_json(p, {"a": 1})
    real = os.replace

    def kill(a, b):
        raise Killed

    monkeypatch.setattr(_atomic.os, "replace", kill)
    with pytest.raises(Killed):
        _atomic.write_json(p, {"a": 2})
    monkeypatch.setattr(_atomic.os, "replace", real)
    assert json.loads(p.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["m.json"]  # no temporary file left behind
    _atomic.write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}


def test_strict_json_flags_nonfinite(tmp_path):
    row = _atomic.flag_nonfinite({"train_loss": float("nan"), "test_loss": float("inf"), "step": 3, "x": 1.5})
    assert row == {"train_loss": None, "test_loss": None, "step": 3, "x": 1.5, "nonfinite": ["train_loss", "test_loss"]}
    _atomic.write_json(tmp_path / "m.json", {"rows": [{"v": float("-inf")}]})
    text = (tmp_path / "m.json").read_text()
    assert "Infinity" not in text and json.loads(text) == {"rows": [{"v": None}]}


def test_read_json_names_a_damaged_file(tmp_path):
    p = tmp_path / "metrics.json"
    _atomic.write_json(p, {"epochs": [{"a": "b" * 50}]})
    data = p.read_bytes()
    for damaged in (data[: len(data) // 2], b"\0" * len(data), b"\xff\xfe" + data[2:]):
        p.write_bytes(damaged)
        with pytest.raises(_atomic.DamagedFileError, match=r"metrics file .*metrics.json is damaged"):
            _atomic.read_json(p, "metrics file")


def test_preflight_refuses_unwritable_and_full_dirs(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a path under a regular file cannot be created, even by root
    with pytest.raises(_atomic.OutputError, match=r"--out directory .*a-file/out cannot be created"):
        _atomic.preflight(str(blocker / "out"), what="--out")
    with pytest.raises(_atomic.OutputError, match=r"is not a directory|cannot be created"):
        _atomic.preflight(str(blocker), what="--out")
    with pytest.raises(_atomic.OutputError, match=r"sweep output directory .*a-file cannot be created"):
        _atomic.preflight(files=[str(blocker / "r.csv")], what="sweep output")

    class Usage:
        free = 1 << 20

    monkeypatch.setattr(_atomic.shutil, "disk_usage", lambda d: Usage())
    with pytest.raises(_atomic.OutputError, match=r"has 1.0 MiB free, fewer than the 64 MiB"):
        _atomic.preflight(str(tmp_path / "ok"), what="--out")
    assert "\n" not in str(_atomic.OutputError("x"))


def test_preflight_refuses_a_file_that_cannot_be_opened(tmp_path):
    d = tmp_path / "r.csv"
    d.mkdir()  # a directory where the results CSV should be
    with pytest.raises(_atomic.OutputError, match=r"r.csv is not writable"):
        _atomic.preflight(files=[str(d)])


# ------------------------------------------------------------------------------ checkpoints

def _state(v: float) -> dict:
    return {"model": {"w": np.full((16, 8), v, np.float32), "b": np.arange(8, dtype=np.int32)},
            "step": np.asarray(int(v))}


def _meta(v: float) -> dict:
    return {"config": {"seed": 0}, "epoch_state": {"loss_sum": v}, "history": []}


def _saved(tmp_path, steps=(1, 2)) -> str:
    d = str(tmp_path / "checkpoints")
    for s in steps:
        ckpt.save(d, s, _state(s), _meta(s))
    return d


def _restore_w(path):
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ck:
        return float(np.asarray(ck.restore(os.path.abspath(path))["model"]["w"])[0, 0])


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("ck"))


def _copy(src, tmp_path):
    dst = str(tmp_path / "checkpoints")
    shutil.copytree(src, dst)
    return dst


def test_saved_checkpoints_verify(two_checkpoints, tmp_path):
    d = _copy(two_checkpoints, tmp_path)
    assert [ckpt.verify(os.path.join(d, n)) for n in ckpt.checkpoints(d)] == [None, None]
    path, meta = ckpt.newest_intact(d)
    assert path.endswith("step_00000002") and meta == _meta(2) and _restore_w(path) == 2.0


def _largest(path):
    files = [os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs]
    return max(files, key=os.path.getsize)


def _random_bytes(f):
    with open(f, "r+b") as fh:
        fh.seek(os.path.getsize(f) // 2)
        fh.write(np.random.default_rng(0).bytes(64))


def _truncate(f):
    with open(f, "r+b") as fh:
        fh.truncate(os.path.getsize(f) // 2)


def _zeros(f):
    n = os.path.getsize(f)
    with open(f, "wb") as fh:
        fh.write(b"\0" * n)


FAULTS = {"random bytes": _random_bytes, "truncated": _truncate, "zeros": _zeros, "missing": os.remove}
FILES = {"largest array file": lambda p: _largest(p), "orbax _METADATA": lambda p: os.path.join(p, "_METADATA"),
         "step json": lambda p: p + ".json", "manifest": lambda p: p + ckpt.MANIFEST}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("which", FILES)
def test_damaged_newest_checkpoint_is_named_and_skipped(two_checkpoints, tmp_path, fault, which):
    d = _copy(two_checkpoints, tmp_path)
    newest = os.path.join(d, "step_00000002")
    FAULTS[fault](FILES[which](newest))
    assert ckpt.verify(newest) is not None
    said = []
    path, meta = ckpt.newest_intact(d, log=said.append)
    assert path.endswith("step_00000001") and meta == _meta(1) and _restore_w(path) == 1.0
    assert len(said) == 1 and "step_00000002" in said[0] and "falling back to step_00000001" in said[0]
    # kept for inspection, out of the way of the next save of step 2
    assert ckpt.checkpoints(d) == ["step_00000001"]
    assert os.path.isdir(os.path.join(d, "damaged", "step_00000002"))


def test_no_intact_checkpoint_is_refused_by_name(two_checkpoints, tmp_path):
    d = _copy(two_checkpoints, tmp_path)
    for n in ("step_00000001", "step_00000002"):
        _random_bytes(_largest(os.path.join(d, n)))
    with pytest.raises(ckpt.CheckpointError, match=r"no intact checkpoint .*step_00000002: step_00000002/.* is "
                                                   r"damaged .*step_00000001: .*--overwrite"):
        ckpt.newest_intact(d, log=lambda m: None)
    assert ckpt.checkpoints(d) == ["step_00000001", "step_00000002"]  # nothing moved or deleted


@pytest.mark.parametrize("stage", ["begin", "orbax", "arrays", "metadata", "manifest-rename"])
def test_kill_at_every_stage_of_a_save_leaves_the_old_state(two_checkpoints, tmp_path, monkeypatch, stage):
    """A kill while saving step 3 (or re-saving step 2 after a fallback) leaves the previous
    checkpoints resumable and the interrupted one incomplete."""
    import orbax.checkpoint as ocp

    for step in (3, 2):
        d = _copy(two_checkpoints, tmp_path / str(step))
        if stage == "orbax":
            def boom(*a, **k):
                raise Killed
            monkeypatch.setattr(ocp.StandardCheckpointer, "save", boom)
        elif stage == "manifest-rename":
            real = os.replace

            def rep(a, b):
                if str(b).endswith(ckpt.MANIFEST):
                    raise Killed
                return real(a, b)
            monkeypatch.setattr(_atomic.os, "replace", rep)
        else:
            def at(s):
                if s == stage:
                    raise Killed
            monkeypatch.setattr(ckpt, "_stage", at)
        with pytest.raises(Killed):
            ckpt.save(d, step, _state(30), _meta(30))
        monkeypatch.undo()
        path, meta = ckpt.newest_intact(d, log=lambda m: None)
        assert path.endswith("step_00000001" if step == 2 else "step_00000002")
        assert meta == (_meta(1) if step == 2 else _meta(2))


def test_kill_after_the_manifest_is_a_complete_save(two_checkpoints, tmp_path, monkeypatch):
    d = _copy(two_checkpoints, tmp_path)

    def at(s):
        if s == "manifest":
            raise Killed
    monkeypatch.setattr(ckpt, "_stage", at)
    with pytest.raises(Killed):
        ckpt.save(d, 3, _state(3), _meta(3))
    monkeypatch.undo()
    path, meta = ckpt.newest_intact(d)
    assert path.endswith("step_00000003") and meta == _meta(3) and _restore_w(path) == 3.0


def test_unwritable_checkpoint_dir_is_one_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ckpt.CheckpointError, match=r"cannot write checkpoint .*f/c/step_00000001"):
        ckpt.save(str(tmp_path / "f" / "c"), 1, _state(1), _meta(1))


# ------------------------------------------------------------------------- non-finite policy

LABELS = [("conv0", "bp"), ("conv0", "ff"), ("conv0", "up"), ("dense", "bp"), ("dense", "ff"), ("dense", "up")]


def _counts(**at):
    nan, inf = np.zeros(len(LABELS)), np.zeros(len(LABELS))
    for k, (n, i) in at.items():
        j = LABELS.index(tuple(k.split("__")))
        nan[j], inf[j] = n, i
    return nan, inf


@pytest.mark.parametrize("phase", ["ff", "bp", "up"])
def test_stop_names_the_step_phase_and_layer(phase):
    w = NonFiniteWatch("stop", LABELS)
    w.check(1, 0, 0, 2.3, *_counts())  # finite: nothing
    later = {"ff": "bp", "bp": "up", "up": None}[phase]
    counts = {f"dense__{phase}": (5, 0)} | ({f"conv0__{later}": (1, 2)} if later else {})
    with pytest.raises(NonFiniteError, match=rf"at step 7 \(epoch 2, batch 3\): first in phase {phase.upper()}, "
                                             rf"layer dense \(5 NaN, 0 Inf\)") as e:
        w.check(7, 1, 3, float("nan"), *_counts(**counts))
    assert e.value.step == 7
    if later:
        assert f"then in phase {later.upper()}" in str(e.value)


def test_inf_only_and_nonfinite_loss_without_events():
    with pytest.raises(NonFiniteError, match=r"layer conv0 \(0 NaN, 3 Inf\)"):
        NonFiniteWatch("stop", LABELS).check(2, 0, 1, 1.0, *_counts(conv0__ff=(0, 3)))
    with pytest.raises(NonFiniteError, match=r"non-finite loss \(inf\) at step 1 .*native float phases count no"):
        NonFiniteWatch("stop", LABELS, native=True).check(1, 0, 0, float("inf"), *_counts())


def test_warn_once_and_continue_quietly(capsys):
    w = NonFiniteWatch("warn", LABELS)
    for s in (1, 2, 3):
        w.check(s, 0, s - 1, float("nan"), *_counts(dense__up=(1, 0)))
    err = capsys.readouterr().err
    assert err.count("warning: non-finite values at step 1") == 1
    w = NonFiniteWatch("continue", LABELS)
    w.check(1, 0, 0, float("nan"), *_counts(dense__up=(1, 0)))
    assert capsys.readouterr().err == "" and w.first is not None
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        NonFiniteWatch("ignore", LABELS)


def test_train_config_on_nonfinite():
    from pimjax.apps.train._config import RUNTIME_FIELDS, TrainConfig

    with pytest.raises(ValueError, match=r"TrainConfig.on_nonfinite must be one of \('stop', 'warn', 'continue'\)"):
        TrainConfig(on_nonfinite="ignore")
    assert "on_nonfinite" in RUNTIME_FIELDS  # a resumed run may change it


# ---------------------------------------------------------------------------- sweep fingerprint

def _parts(**over):
    p = {"grid": {"act_bits": [8], "weight_bits": [2, 8]}, "run": {"batch_size": 150, "seed": 0},
         "model": {"name": "cnn_d1_k3_c2", "epochs": 1}, "data": "aa", "weights": "bb", "metrics": ["accuracy"],
         "datapath_version": 1}
    for k, v in over.items():
        p[k] = {**p[k], **v} if isinstance(p[k], dict) else v
    return p


IDENT = {"sweep": "s", "model": "cnn", "model_spec": "k", "seed": 0}


@pytest.mark.parametrize("change, what", [
    ({"grid": {"weight_bits": [2, 4, 8]}}, r"grid.weight_bits: \[2, 8\] in the file, \[2, 4, 8\] now"),
    ({"run": {"batch_size": 100}}, r"run.batch_size: 150 in the file, 100 now"),
    ({"model": {"epochs": 2}}, r"model.epochs: 1 in the file, 2 now"),
    ({"data": "cc"}, r"data: digest aa in the file, cc now \(the test data changed\)"),
    ({"weights": "dd"}, r"weights: digest bb in the file, dd now \(the trained float weights"),
    ({"metrics": ["accuracy", "loss"]}, r"metrics: \['accuracy'\] in the file"),
    ({"datapath_version": 2}, r"datapath_version: 1 in the file, 2 now"),
])
def test_fingerprint_refuses_every_kind_of_change(tmp_path, change, what):
    from pimjax.apps.sweep import _fingerprint as fp

    csv = str(tmp_path / "r.csv")
    fp.check(csv, IDENT, _parts(), has_rows=False)  # a new file: recorded
    fp.check(csv, IDENT, _parts(), has_rows=True)  # same settings: resumes
    with pytest.raises(fp.FingerprintMismatch, match=what + r".*--out NEW.csv"):
        fp.check(csv, IDENT, _parts(**change), has_rows=True)
    # another sweep in the same file has its own record
    fp.check(csv, {**IDENT, "sweep": "t"}, _parts(**change), has_rows=False)
    fp.check(csv, {**IDENT, "sweep": "t"}, _parts(**change), has_rows=True)


def test_fingerprint_missing_or_damaged_is_refused_when_rows_exist(tmp_path):
    from pimjax.apps.sweep import _fingerprint as fp

    csv = str(tmp_path / "r.csv")
    with pytest.raises(fp.FingerprintMismatch, match=r"holds rows of sweep 's' but no fingerprint"):
        fp.check(csv, IDENT, _parts(), has_rows=True)
    fp.check(csv, IDENT, _parts(), has_rows=False)
    _truncate(fp.sidecar(csv))
    with pytest.raises(fp.FingerprintMismatch, match=r"sweep fingerprint file .*r.csv.fingerprint.json is damaged"):
        fp.check(csv, IDENT, _parts(), has_rows=True)
    fp.check(csv, IDENT, _parts(), has_rows=False)  # no rows yet: rewritten
    fp.check(csv, IDENT, _parts(), has_rows=True)


@pytest.mark.parametrize("fault", ["random bytes", "truncated", "zeros"])
def test_damaged_model_cache_is_named_and_rebuilt(tmp_path, capsys, fault):
    from pimjax.apps.data._datasets import ArrayDataset
    from pimjax.apps.sweep import ModelSpec
    from pimjax.apps.sweep.models import _cache_name, load_params, make_model, save_params, trained_model

    spec = ModelSpec(name="cnn_d1_k3_c2", input_size=8, epochs=0)
    x = np.zeros((4, 8, 8, 1), np.float32)
    data = ArrayDataset(x_train=x, y_train=np.zeros(4, np.int32), x_test=x, y_test=np.zeros(4, np.int32),
                        num_classes=10)
    m = make_model(spec)
    path = str(tmp_path / _cache_name(spec))
    save_params(m, path)
    assert os.listdir(tmp_path) == [os.path.basename(path)]  # written atomically: no temporary left
    FAULTS[fault](path)
    with pytest.raises(_atomic.DamagedFileError, match=r"model cache .*\.npz is damaged"):
        load_params(make_model(spec), path)
    trained_model(spec, cache_dir=str(tmp_path), data=data)
    assert "is damaged" in capsys.readouterr().err and os.path.exists(path + ".damaged")
    load_params(make_model(spec), path)  # the rebuilt cache reads back


# -------------------------------------------------------------------------- through the CLI

TRAIN = ["train", "--model", "cnn_d1_k3_c4", "--input-size", "8", "--batch-size", "8", "--epochs", "2", "--array-rows", "8",
         "--array-width", "4", "--lr", "0.01", "--no-progress"]


def test_cli_train_unwritable_out_is_one_line(tmp_path, capsys):
    from pimjax import cli

    (tmp_path / "f").write_text("x")
    assert cli.main([*TRAIN, "--max-steps", "1", "--out", str(tmp_path / "f" / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pimjax train: error: --out directory") and "cannot be created" in err[0]


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """test_train.py's 8x8 images (the same compiled shapes); x_scale 3e38: every product overflows."""
    def make(scale):
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, (24, 8, 8)).astype(np.float32) * np.float32(scale)
        y = np.arange(24) % 4
        path = tmp_path_factory.mktemp("data") / f"small_{scale:g}.npz"
        np.savez(path, x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:])
        return str(path)
    return make


@pytest.mark.slow
def test_corrupted_newest_checkpoint_falls_back_end_to_end(small_npz, tmp_path, capsys):
    """The finding: 64 random bytes in the largest array file of the newest checkpoint; the
    resume names it, falls back to the previous one and ends with the uninterrupted weights."""
    from pimjax.apps.train._config import TrainConfig
    from pimjax.apps.train._loop import prepare, train

    cfg = TrainConfig(model="cnn_d1_k3_c4", input_size=8, batch_size=8, epochs=2, rows=8, width=4, progress=False,
                      learning_rate=1e-2, dataset=small_npz(1.0), out_dir=str(tmp_path), checkpoint_every=1,
                      max_steps=3)
    full = train(cfg)
    ref = ckpt.newest_intact(str(tmp_path / "checkpoints"))[0]
    ref_w = open(_largest(ref), "rb").read()
    _random_bytes(_largest(ref))
    p = prepare(dataclasses.replace(cfg, resume=True))
    assert p.step == 2 and "step_00000003" in capsys.readouterr().err
    again = p.run()
    assert open(_largest(ckpt.newest_intact(str(tmp_path / "checkpoints"))[0]), "rb").read() == ref_w
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(again["epochs"]) == strip(full["epochs"])


@pytest.mark.slow
@pytest.mark.parametrize("hw, policy", [("fp32", "stop"), ("native", "stop"), ("fp32", "warn")])
def test_nonfinite_inputs_end_to_end(small_npz, tmp_path, capsys, hw, policy):
    from pimjax import cli

    rc = cli.main([*TRAIN, "--dataset", small_npz(3e38), "--hw", hw, "--on-nonfinite", policy, "--max-steps", "1",
                   "--out", str(tmp_path)])
    err = capsys.readouterr().err
    if policy == "stop":
        assert rc == 3 and "step 1 (epoch 1, batch 0)" in err
        assert ("first in phase" in err) if hw != "native" else ("non-finite loss" in err)
        return
    assert rc == 0 and "warning: non-finite values at step 1" in err
    text = (tmp_path / "metrics.json").read_text()
    m = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    assert m["epochs"][0]["nan"] > 0 or m["epochs"][0]["nonfinite"]


def test_resumed_metrics_come_from_the_checkpoint(tmp_path):
    """The metrics rows are saved (checksummed) with each checkpoint: a damaged metrics.json does
    not matter; a checkpoint without them and a damaged metrics.json is refused by name."""
    from pimjax.apps.train._loop import _resumed_history

    rows = [{"epoch": 1, "step": 2, "train_loss": None, "nonfinite": ["train_loss"]}, {"epoch": 2, "step": 4}]
    (tmp_path / "metrics.json").write_text('{"epochs": [{"epo')
    got = _resumed_history(str(tmp_path), {"history": rows}, 3)
    assert len(got) == 1 and np.isnan(got[0]["train_loss"]) and "nonfinite" not in got[0]
    with pytest.raises(ValueError, match=r"metrics file .*metrics.json is damaged .*move it aside"):
        _resumed_history(str(tmp_path), {}, 3)
    _atomic.write_json(tmp_path / "metrics.json", {"epochs": rows})
    assert [r["step"] for r in _resumed_history(str(tmp_path), {}, 4)] == [2, 4]


def test_a_save_after_a_kill_removes_the_kills_temporaries(two_checkpoints, tmp_path):
    d = _copy(two_checkpoints, tmp_path)
    os.makedirs(os.path.join(d, "step_00000003.orbax-checkpoint-tmp-17"))
    open(os.path.join(d, ".step_00000003.manifest.json.abc.tmp"), "w").close()
    ckpt.save(d, 3, _state(3), _meta(3))
    assert sorted(os.listdir(d)) == [f"step_0000000{s}{x}" for s in (1, 2, 3) for x in ("", ".json", ".manifest.json")]


def test_resume_names_the_temporaries_of_a_killed_save(two_checkpoints, tmp_path):
    d = _copy(two_checkpoints, tmp_path)
    os.makedirs(os.path.join(d, "step_00000003.orbax-checkpoint-tmp-17"))
    said = []
    path, _ = ckpt.newest_intact(d, log=said.append)
    assert path.endswith("step_00000002")
    assert "unfinished saves of step_00000003" in said[0] and "resuming from" in said[1]
    assert sorted(os.listdir(d)) == [f"step_0000000{s}{x}" for s in (1, 2) for x in ("", ".json", ".manifest.json")]


@pytest.mark.parametrize("fault", ["random bytes", "zeros", "cut mid-file", "cut last line"])
def test_damaged_results_csv_is_repaired_or_refused_by_name(tmp_path, fault):
    from pimjax.apps.sweep._results import COLUMNS, ResultsFile, config_rows

    base = {c: 0 for c in COLUMNS if c not in ("metric", "value")} | {"sweep": "s", "model": "m", "model_spec": "k",
                                                                       "rounding": "nearest_even"}
    rf = ResultsFile(tmp_path / "r.csv", ("accuracy", "loss"))
    rf.prepare()
    for i in range(4):
        rf.append(config_rows({**base, "act_bits": i}, {"accuracy": 0.5, "loss": 1.0}))
    p = tmp_path / "r.csv"
    data = p.read_bytes()
    lines = data.splitlines(keepends=True)
    if fault == "cut last line":  # a kill while appending: repaired, the cut config dropped
        p.write_bytes(data[:-7])
        assert len(ResultsFile(p, ("accuracy", "loss")).prepare()) == 3
        return
    if fault == "random bytes":
        damaged = b"".join(lines[:3]) + np.random.default_rng(1).bytes(40) + b"\n" + b"".join(lines[3:])
    elif fault == "zeros":
        damaged = b"".join(lines[:3]) + b"\0" * len(lines[3]) + b"".join(lines[4:])
    else:
        damaged = b"".join(lines[:3]) + lines[3][:20] + b"\n" + b"".join(lines[4:])
    p.write_bytes(damaged)
    with pytest.raises(_atomic.DamagedFileError, match=r"results file .*r.csv is damaged"):
        ResultsFile(p, ("accuracy", "loss")).prepare()
    assert p.read_bytes() == damaged  # refused: left as it was


def test_cli_cost_unwritable_csv_is_one_line(tmp_path, capsys):
    from pimjax import cli

    (tmp_path / "f").write_text("x")
    assert cli.main(["cost", "--model", "alexnet", "--csv", str(tmp_path / "f" / "c.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--csv directory" in err[0] and "cannot be created" in err[0]

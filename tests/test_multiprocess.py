"""Real processes on JAX's distributed runtime: 2 processes x 4 fake CPU devices on localhost
give the same bits as 1 process x 8 devices and as 1 device, for a system matmul (ordered and
fast paths: all_to_all and psum across the processes), a small sweep (configs over the global
mesh) and a 3-step training run (slices over the global mesh, orbax checkpoints).

Each launch runs ``tests/mp_worker.py`` (``jax.distributed.initialize`` with gloo collectives)
in fresh interpreters with a free port and a timeout; one launch per layout does every task
(the 1-process launch also the 1-device runs and a resume of the 2-process run's checkpoint),
so the module costs three interpreter starts, not one per test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

pytestmark = pytest.mark.multiprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, "tests", "mp_worker.py")
TASKS = "matmul,sweep,train"
TIMEOUT = int(os.environ.get("PIMJAX_MP_TIMEOUT", "600"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices_per_process: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices_per_process}"
    env["JAX_PLATFORMS"] = "cpu"
    env.setdefault("PIMJAX_TEST_COMPILE_CACHE", os.path.join(tempfile.gettempdir(), "pimjax-test-jax-cache"))
    for v in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(v, None)
    return env


def launch(out: str, processes: int, devices_per_process: int, *, tasks: str = TASKS,
           extra: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Runs the worker in ``processes`` processes; process 0's bits."""
    cmd = [sys.executable, WORKER, out, tasks, *extra]
    if processes > 1:
        port = free_port()
        cmds = [cmd + ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
                       "--process-id", str(i)] for i in range(processes)]
    else:
        cmds = [cmd]
    procs = [subprocess.Popen(c, env=_env(devices_per_process), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in cmds]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"process {i} of {processes} failed (rc {p.returncode}):\n{log[-4000:]}"
    with np.load(os.path.join(out, "bits.npz")) as z:
        return dict(z)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp")
    two = launch(str(root / "2x4"), 2, 4)
    # one process of 8 devices: the same tasks, matmul and sweep on 1 device too, and the 2x4
    # run resumed from its step-2 checkpoint (written by 2 processes, read by 1)
    one = launch(str(root / "1x8"), 1, 8, extra=("--one-device", "--resume-from", str(root / "2x4" / "run")))
    return {"2x4": two, "1x8": {k: v for k, v in one.items() if not k.startswith(("one_", "resume_"))},
            "1x1": {k[4:]: v for k, v in one.items() if k.startswith("one_")},
            "resumed": {k[7:]: v for k, v in one.items() if k.startswith("resume_")}}


def _same(layouts, prefix: str, names=("2x4", "1x8", "1x1")) -> int:
    ref = layouts[names[0]]
    keys = sorted(k for k in ref if k.startswith(prefix))
    assert keys, prefix
    for name in names[1:]:
        other = layouts[name]
        assert sorted(k for k in other if k.startswith(prefix)) == keys
        for k in keys:
            np.testing.assert_array_equal(other[k], ref[k], err_msg=f"{k}: {name} vs {names[0]}")
    return len(keys)


def test_system_matmul_2x4_equals_1x8_and_1_device(layouts):
    assert _same(layouts, "matmul_") >= 2
    assert layouts["2x4"]["matmul_ordered_overflow"] >= 0


def test_sweep_2x4_equals_1x8_and_1_device(layouts):
    _same(layouts, "sweep_")
    assert layouts["2x4"]["sweep_logits"].shape == (8, 24, 10)


def test_training_2x4_equals_1x8(layouts):
    # (1 device: tests/test_train.py::test_one_and_eight_devices_same_bits, the same run's bits)
    assert _same(layouts, "train_", names=("2x4", "1x8")) > 4


def test_resume_with_another_process_count(layouts):
    # checkpoint at step 2 saved by 2 processes (orbax multi-host), resumed by 1 process to step 3
    _same(layouts, "train_", names=("2x4", "resumed"))


def test_flags_and_auto_detection(monkeypatch, capsys):
    from pimjax import cli
    from pimjax.apps import _distributed as dist

    args = cli.build_parser().parse_args(["sweep", "x.toml", "--coordinator", "h:1", "--num-processes", "2",
                                          "--process-id", "1"])
    assert (args.coordinator, args.num_processes, args.process_id) == ("h:1", 2, 1)
    assert cli.main(["train", "--coordinator", "h:1"]) == 2
    assert "--num-processes N and --process-id I" in capsys.readouterr().err
    for v in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(v, raising=False)
    assert dist.cluster_detected() is None and dist.initialize() is False  # a plain run: nothing
    slurm = {"SLURM_JOB_ID": "1", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "2", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0"}
    for k, v in slurm.items():
        monkeypatch.setenv(k, v)
    assert dist.cluster_detected() in ("slurm", "SlurmCluster")
    monkeypatch.setenv("PIMJAX_DISTRIBUTED", "0")
    assert dist.initialize() is False  # auto-detection turned off

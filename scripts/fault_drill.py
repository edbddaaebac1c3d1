"""Fault drills: every fault of "nothing lost, nothing silent", end to end through the CLI.

    python scripts/fault_drill.py [--work DIR] [--only NAME,...] [--keep]

Each drill runs ``pimjax train`` / ``pimjax sweep`` in subprocesses on tiny settings (a 2-layer
CNN on 8x8 digits, a 4-config sweep), injects one fault (bytes overwritten, a file cut short,
zeroed or missing, a kill at a stage of a checkpoint save or a sweep chunk write, changed sweep
settings, an unwritable output path, NaN/Inf inputs), and checks what the run did:

- ``survived``: the fault was reported by name and the run recovered to the same state as
  without it, or refused with a one-line error and changed nothing;
- ``lost``: data that had been written is gone or different;
- ``silent``: the run exited 0 without saying anything about the fault.

It prints one line per drill and, last, one JSON object
``{"drills": N, "survived": N, "lost": 0, "silent": 0}``. A persistent JAX compile cache
(``--cache``) makes the repeated tiny runs load their programs instead of compiling them.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ["train", "--model", "cnn_d2_k3_c4", "--input-size", "8", "--batch-size", "8", "--epochs", "1", "--array-rows", "8",
         "--array-width", "4", "--lr", "0.01", "--no-progress"]
SWEEP = {"name": "drill", "model": {"name": "cnn_d1_k3_c2", "epochs": 1},
         "grid": {"act_bits": [8], "weight_bits": [2, 8], "noise_kind": ["rescaled"], "noise_level": [0.0, 0.1]},
         "run": {"chunk": 2, "batch_size": 150}}


class Drills:
    def __init__(self, work: str, cache: str):
        self.work, self.cache = work, cache
        self.results: list[tuple[str, str, str]] = []

    # --------------------------------------------------------------------------- helpers
    def cli(self, args, patch: str = "", timeout: int = 900):
        """``pimjax ARGS`` in a subprocess (``patch``: Python run first, e.g. a fault hook)."""
        code = f"import sys\n{patch}\nfrom pimjax import cli\nsys.exit(cli.main(sys.argv[1:]))"
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   JAX_COMPILATION_CACHE_DIR=self.cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=self.work, env=env, capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0

    def record(self, name: str, verdict: str, why: str) -> None:
        self.results.append((name, verdict, why))
        print(f"{verdict:<9} {name}: {why}", flush=True)

    def path(self, *p) -> str:
        return os.path.join(self.work, *p)

    # ------------------------------------------------------------------------- train base
    def train_base(self) -> None:
        """A 3-step run checkpointed every step (the state every train drill starts from)."""
        rc, _, err, s = self.cli([*TRAIN, "--max-steps", "3", "--checkpoint-every", "1", "--out", "base"])
        assert rc == 0, err[-2000:]
        self.base_params = self._params("base", 3)
        print(f"(base run: 3 steps in {s:.0f} s)", flush=True)

    def _params(self, out: str, step: int) -> str:
        """A digest of checkpoint ``step``'s arrays (read back with orbax)."""
        import hashlib

        import jax
        import orbax.checkpoint as ocp

        with ocp.StandardCheckpointer() as ck:
            state = ck.restore(os.path.abspath(self.path(out, "checkpoints", f"step_{step:08d}")))
        h = hashlib.sha256()
        for p, v in jax.tree_util.tree_leaves_with_path(state):
            h.update(jax.tree_util.keystr(p).encode() + np.asarray(v).tobytes())
        return h.hexdigest()

    def _largest(self, out: str, step: int) -> str:
        d = self.path(out, "checkpoints", f"step_{step:08d}")
        files = [f for f in glob.glob(os.path.join(d, "**", "*"), recursive=True) if os.path.isfile(f)]
        return max(files, key=os.path.getsize)

    def _copy(self, name: str) -> str:
        dst = self.path(name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(self.path("base"), dst)
        return name

    def _resume_falls_back(self, name: str, damaged: str, fault) -> None:
        """Damage checkpoint 3 of a copy of the base run, resume to step 3: the damaged one must
        be named, the run must fall back to step 2 and end with step 3's weights of the base run."""
        out = self._copy(name)
        fault(out)
        rc, _, err, s = self.cli([*TRAIN, "--max-steps", "3", "--checkpoint-every", "1", "--out", out, "--resume"])
        said = damaged in err and "falling back to step_00000002" in err
        if rc != 0:
            return self.record(name, "lost" if not said else "survived" if "error" in err else "lost",
                               f"rc {rc}: {err.strip().splitlines()[-1] if err.strip() else ''}")
        if not said:
            return self.record(name, "silent", "resumed with exit status 0 without naming the damaged checkpoint")
        same = self._params(out, 3) == self.base_params
        self.record(name, "survived" if same else "lost",
                    f"named {damaged}, fell back to step 2, step 3 again {'bit-identical' if same else 'DIFFERENT'} "
                    f"({s:.0f} s)")

    # -------------------------------------------------------------------------- train drills
    def checkpoint_corruption(self) -> None:
        rng = np.random.default_rng(0)

        def random_bytes(out):
            f = self._largest(out, 3)
            with open(f, "r+b") as fh:
                fh.seek(os.path.getsize(f) // 2)
                fh.write(rng.bytes(64))

        def array_bytes(out):  # the largest file of the arrays' data (ocdbt d/...), not the metadata
            files = glob.glob(self.path(out, "checkpoints", "step_00000003", "**", "d", "*"), recursive=True)
            f = max(files, key=os.path.getsize)
            with open(f, "r+b") as fh:
                fh.seek(os.path.getsize(f) // 2)
                fh.write(rng.bytes(64))

        def truncate(out):
            f = self._largest(out, 3)
            with open(f, "r+b") as fh:
                fh.truncate(os.path.getsize(f) // 2)

        def zeros(out):
            f = self.path(out, "checkpoints", "step_00000003", "_METADATA")
            n = os.path.getsize(f)
            with open(f, "wb") as fh:
                fh.write(b"\0" * n)

        def missing(out):
            os.remove(self._largest(out, 3))

        def meta_json(out):
            f = self.path(out, "checkpoints", "step_00000003.json")
            with open(f, "r+b") as fh:
                fh.truncate(os.path.getsize(f) // 3)

        def manifest(out):
            with open(self.path(out, "checkpoints", "step_00000003.manifest.json"), "w") as fh:
                fh.write('{"format": 1, "files": {"x')

        for name, fault, what in (("ckpt-random-bytes", random_bytes, "step_00000003"),
                                  ("ckpt-array-data-bytes", array_bytes, "step_00000003/"),
                                  ("ckpt-truncated", truncate, "step_00000003"),
                                  ("ckpt-zeroed-metadata", zeros, "step_00000003/_METADATA"),
                                  ("ckpt-missing-file", missing, "step_00000003"),
                                  ("ckpt-damaged-json", meta_json, "step_00000003.json"),
                                  ("ckpt-damaged-manifest", manifest, "step_00000003.manifest.json")):
            self._resume_falls_back(name, what, fault)

    def checkpoint_none_intact(self) -> None:
        out = self._copy("ckpt-none-intact")
        for s in (1, 2, 3):
            with open(self._largest(out, s), "r+b") as fh:
                fh.write(b"\xff" * 64)
        before = sorted(os.listdir(self.path(out, "checkpoints")))
        rc, _, err, s = self.cli([*TRAIN, "--max-steps", "3", "--out", out, "--resume"])
        lines = err.strip().splitlines()
        ok = rc == 2 and lines and "no intact checkpoint" in lines[-1] and all(
            f"step_0000000{i}" in lines[-1] for i in (1, 2, 3))
        kept = all(os.path.exists(self.path(out, "checkpoints", b)) for b in before)
        self.record("ckpt-none-intact", "survived" if ok and kept else "silent" if rc == 0 else "lost",
                    f"rc {rc}: {lines[-1][:160] if lines else ''}")

    def checkpoint_kills(self) -> None:
        """A kill (os._exit) at each stage of the save of step 3; the resume must continue from
        step 2 and reach step 3's weights of the uninterrupted run, with the same metrics."""
        for stage in ("begin", "orbax-tmp", "arrays", "metadata", "manifest-tmp"):
            name = f"kill-at-{stage}"
            out = name
            shutil.rmtree(self.path(out), ignore_errors=True)
            if stage == "orbax-tmp":  # inside orbax: the temporary directory written, not renamed
                patch = ("import os, orbax.checkpoint as ocp\n"
                         "from pimjax.apps.train import _checkpoint as C\n"
                         "orig = ocp.StandardCheckpointer.save\n"
                         "def save(self, path, *a, **k):\n"
                         "    if str(path).endswith('step_00000003'):\n"
                         "        os.makedirs(str(path) + '.orbax-checkpoint-tmp-1', exist_ok=True)\n"
                         "        open(str(path) + '.orbax-checkpoint-tmp-1/x', 'w').write('partial')\n"
                         "        os._exit(137)\n"
                         "    return orig(self, path, *a, **k)\n"
                         "ocp.StandardCheckpointer.save = save\n")
            elif stage == "manifest-tmp":  # the manifest's temporary file written, not renamed
                patch = ("import os\nfrom pimjax.apps import _atomic\n"
                         "orig = os.replace\n"
                         "def rep(a, b):\n"
                         "    if str(b).endswith('step_00000003.manifest.json'):\n"
                         "        os._exit(137)\n"
                         "    return orig(a, b)\n"
                         "_atomic.os.replace = rep\n")
            else:
                patch = ("import os\nfrom pimjax.apps.train import _checkpoint as C\n"
                         f"def stage(s):\n    if s == {stage!r} and C._STEP[0] == 3:\n        os._exit(137)\n"
                         "C._STEP = [0]\norig = C.save\n"
                         "def save(d, step, *a, **k):\n    C._STEP[0] = step\n    return orig(d, step, *a, **k)\n"
                         "C.save = save\nC._stage = stage\n")
            rc, _, err, _ = self.cli([*TRAIN, "--max-steps", "3", "--checkpoint-every", "1", "--out", out], patch)
            if rc != 137:
                self.record(name, "lost", f"the injected kill did not happen (rc {rc}): {err.strip()[-200:]}")
                continue
            rc, _, err, s = self.cli([*TRAIN, "--max-steps", "3", "--checkpoint-every", "1", "--out", out,
                                      "--resume"])
            if rc != 0:
                self.record(name, "lost", f"resume rc {rc}: {err.strip().splitlines()[-1] if err.strip() else ''}")
                continue
            # a kill before step 3's arrays were complete leaves no step 3 (at most orbax's temporary
            # directory, which must be named); from then on step 3 is there and must be named
            said = (("resuming from" in err and "step_00000002" in err) if stage == "begin" else
                    ("step_00000003" in err and "step_00000002" in err))
            same = self._params(out, 3) == self.base_params
            with open(self.path(out, "metrics.json")) as f:
                m = json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            with open(self.path("base", "metrics.json")) as f:
                b = json.load(f)
            strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
            metrics_same = strip(m["epochs"]) == strip(b["epochs"])
            verdict = "survived" if said and same and metrics_same else "silent" if not said else "lost"
            how = "resumed from step 2" + ("" if stage == "begin" else ", step 3 named")
            self.record(name, verdict, f"resume {how if said else 'SAID NOTHING'}; "
                        f"weights {'same' if same else 'DIFFERENT'}, metrics {'same' if metrics_same else 'DIFFERENT'}")

    def metrics_truncated(self) -> None:
        out = self._copy("metrics-truncated")
        f = self.path(out, "metrics.json")
        with open(f, "r+b") as fh:
            fh.truncate(os.path.getsize(f) // 2)
        os.remove(self.path(out, "checkpoints", "step_00000003.manifest.json"))  # resume from step 2: redo step 3
        rc, _, err, _ = self.cli([*TRAIN, "--max-steps", "3", "--checkpoint-every", "1", "--out", out, "--resume"])
        try:
            with open(f) as fh:
                m = json.load(fh)
            with open(self.path("base", "metrics.json")) as fh:
                b = json.load(fh)
            same = [r["train_loss"] for r in m["epochs"]] == [r["train_loss"] for r in b["epochs"]]
        except ValueError:
            same = False
        self.record("metrics-truncated", "survived" if rc == 0 and same else "lost",
                    f"rc {rc}; metrics.json rewritten from the checkpoint's rows: {'same rows' if same else 'NOT'}")

    def unwritable_out(self) -> None:
        blocker = self.path("a-file")
        with open(blocker, "w") as fh:
            fh.write("not a directory")
        for name, args in (("unwritable-train-out", [*TRAIN, "--max-steps", "1", "--out", "a-file/out"]),
                           ("unwritable-sweep-out", ["sweep", self.sweep_cfg(), "--out", "a-file/r.csv",
                                                     "--no-progress", "--no-plot"])):
            rc, out, err, s = self.cli(args)
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            one_line = rc == 2 and len(lines) == 1 and "a-file" in lines[0]
            self.record(name, "survived" if one_line and s < 120 else "silent" if rc == 0 else "lost",
                        f"rc {rc} in {s:.0f} s: {lines[-1][:150] if lines else ''}")

    def nonfinite(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, (24, 8, 8)).astype(np.float32) * np.float32(3e38)
        y = np.arange(24) % 4
        np.savez(self.path("huge.npz"), x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:])
        base = [*TRAIN[:1], "--model", "cnn_d1_k3_c4", *TRAIN[3:], "--dataset", "huge.npz", "--max-steps", "2"]
        for name, hw, policy in (("nan-fp32-stop", "fp32", "stop"), ("nan-native-stop", "native", "stop"),
                                 ("nan-fp32-warn", "fp32", "warn")):
            out = name
            shutil.rmtree(self.path(out), ignore_errors=True)
            rc, _, err, _ = self.cli([*base, "--hw", hw, "--on-nonfinite", policy, "--out", out])
            last = err.strip().splitlines()[-1] if err.strip() else ""
            if policy == "stop":
                named = rc == 3 and "step 1" in last and ("layer" in last if hw != "native" else "loss" in last)
                self.record(name, "survived" if named else "silent" if rc == 0 else "lost", f"rc {rc}: {last[:200]}")
            else:
                try:
                    with open(self.path(out, "metrics.json")) as fh:
                        m = json.load(fh, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
                    strict = True
                    flagged = any(r.get("nonfinite") for r in m["epochs"]) or any(
                        r.get("nan", 0) > 0 for r in m["epochs"])
                except (ValueError, OSError):
                    strict = flagged = False
                warned = "warning: non-finite values at step 1" in err
                self.record(name, "survived" if rc == 0 and warned and strict and flagged else "silent",
                            f"rc {rc}; warned {warned}; metrics.json strict {strict}, non-finite flagged/counted {flagged}")

    # -------------------------------------------------------------------------- sweep drills
    def sweep_cfg(self, **changes) -> str:
        d = json.loads(json.dumps(SWEEP))
        for table, kv in changes.items():
            d[table].update(kv)
        name = "sweep_" + "_".join(f"{t}{len(kv)}" for t, kv in changes.items()) + f"_{len(os.listdir(self.work))}.json"
        with open(self.path(name), "w") as f:
            json.dump(d, f)
        return name

    def sweep_base(self) -> None:
        rc, _, err, s = self.cli(["sweep", self.sweep_cfg(), "--out", "sweep/full.csv", "--no-progress", "--no-plot"])
        assert rc == 0, err[-2000:]
        self.sweep_rows = self._rows("sweep/full.csv")
        print(f"(base sweep: {len(self.sweep_rows)} rows in {s:.0f} s)", flush=True)

    def _rows(self, p):
        with open(self.path(p), newline="") as f:
            return sorted(tuple(r.values()) for r in csv.DictReader(f))

    def _copy_sweep(self, name: str) -> str:
        d = self.path(name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(self.path("sweep"), d)
        return os.path.join(name, "full.csv")

    def sweep_changed(self) -> None:
        for name, changes, what in (("sweep-changed-grid", {"grid": {"weight_bits": [2, 4, 8]}}, "grid.weight_bits"),
                                    ("sweep-changed-batch-size", {"run": {"batch_size": 100}}, "run.batch_size"),
                                    ("sweep-changed-noise-levels", {"grid": {"noise_level": [0.0, 0.2]}},
                                     "grid.noise_level"),
                                    ("sweep-changed-model-cache", None, "weights")):
            csvp = self._copy_sweep(name)
            before = open(self.path(csvp)).read()
            if changes is None:  # the cached model's weights changed: another model in the cache
                cache = glob.glob(self.path(name, "models", "*.npz"))[0]
                with np.load(cache) as z:
                    arrs = {k: z[k] * 1.01 for k in z.files}
                np.savez(cache, **arrs)
                cfg = self.sweep_cfg()
            else:
                cfg = self.sweep_cfg(**changes)
            rc, _, err, _ = self.cli(["sweep", cfg, "--out", csvp, "--no-progress", "--no-plot"])
            last = err.strip().splitlines()[-1] if err.strip() else ""
            same = open(self.path(csvp)).read() == before
            self.record(name, "survived" if rc == 2 and what in last and same else
                        "silent" if rc == 0 else "lost", f"rc {rc}, file {'unchanged' if same else 'CHANGED'}: {last[:200]}")

    def sweep_kill_mid_chunk(self) -> None:
        name = "sweep-kill-mid-chunk"
        d = self.path(name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copytree(self.path("sweep", "models"), os.path.join(d, "models"))
        patch = ("import os\nfrom pimjax.apps.sweep import _results as R\n"
                 "orig = R.ResultsFile.append\nn = [0]\n"
                 "def append(self, rows):\n"
                 "    n[0] += 1\n"
                 "    if n[0] == 2:\n"
                 "        import io, csv\n"
                 "        buf = io.StringIO(); w = csv.DictWriter(buf, fieldnames=R.COLUMNS, lineterminator='\\n')\n"
                 "        [w.writerow({c: R._fmt(r[c]) for c in R.COLUMNS}) for r in rows]\n"
                 "        t = buf.getvalue(); open(self.path, 'a').write(t[: len(t) // 2]); os._exit(137)\n"
                 "    return orig(self, rows)\n"
                 "R.ResultsFile.append = append\n")
        csvp = os.path.join(name, "full.csv")
        rc, _, _, _ = self.cli(["sweep", self.sweep_cfg(), "--out", csvp, "--no-progress", "--no-plot"], patch)
        if rc != 137:
            return self.record(name, "lost", f"the injected kill did not happen (rc {rc})")
        rc, out, err, _ = self.cli(["sweep", self.sweep_cfg(), "--out", csvp, "--no-progress", "--no-plot"])
        same = rc == 0 and self._rows(csvp) == self.sweep_rows
        self.record(name, "survived" if same else "lost",
                    f"rc {rc}; resumed file {'equals' if same else 'DIFFERS FROM'} the uninterrupted one")

    def sweep_cache_truncated(self) -> None:
        name = "sweep-cache-truncated"
        csvp = self._copy_sweep(name)
        os.remove(self.path(csvp))
        os.remove(self.path(csvp) + ".fingerprint.json")
        cache = glob.glob(self.path(name, "models", "*.npz"))[0]
        with open(cache, "r+b") as fh:
            fh.truncate(os.path.getsize(cache) // 2)
        rc, _, err, _ = self.cli(["sweep", self.sweep_cfg(), "--out", csvp, "--no-progress", "--no-plot"])
        said = "model cache" in err and "damaged" in err and os.path.basename(cache) in err
        same = rc == 0 and self._rows(csvp) == self.sweep_rows
        self.record(name, "survived" if said and same else "silent" if rc == 0 and not said else "lost",
                    f"rc {rc}; {'named the damaged cache, retrained' if said else 'SAID NOTHING'}; rows "
                    f"{'equal' if same else 'DIFFER'}")

    def sweep_no_fingerprint(self) -> None:
        name = "sweep-missing-fingerprint"
        csvp = self._copy_sweep(name)
        os.remove(self.path(csvp) + ".fingerprint.json")
        before = open(self.path(csvp)).read()
        rc, _, err, _ = self.cli(["sweep", self.sweep_cfg(), "--out", csvp, "--no-progress", "--no-plot"])
        last = err.strip().splitlines()[-1] if err.strip() else ""
        same = open(self.path(csvp)).read() == before
        self.record(name, "survived" if rc == 2 and "fingerprint" in last and same else
                    "silent" if rc == 0 else "lost", f"rc {rc}: {last[:160]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="working directory (default: a new temporary one)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pimjax-drill-jax-cache"),
                    help="persistent JAX compile cache shared by the drills' runs")
    ap.add_argument("--only", default="", help="comma-separated drill groups: train, kills, nonfinite, sweep, out")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="pimjax-drill-")
    os.makedirs(work, exist_ok=True)
    d = Drills(work, a.cache)
    only = set(filter(None, a.only.split(",")))
    want = lambda g: not only or g in only  # noqa: E731
    try:
        if want("train") or want("kills") or want("metrics"):
            d.train_base()
        if want("train"):
            d.checkpoint_corruption()
            d.checkpoint_none_intact()
        if want("kills"):
            d.checkpoint_kills()
        if want("metrics"):
            d.metrics_truncated()
        if want("nonfinite"):
            d.nonfinite()
        if want("sweep"):
            d.sweep_base()
            d.sweep_changed()
            d.sweep_kill_mid_chunk()
            d.sweep_cache_truncated()
            d.sweep_no_fingerprint()
        if want("out"):
            d.unwritable_out()
    finally:
        if not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)
    n = len(d.results)
    count = lambda v: sum(1 for _, r, _ in d.results if r == v)  # noqa: E731
    print(json.dumps({"drills": n, "survived": count("survived"), "lost": count("lost"), "silent": count("silent")}))


if __name__ == "__main__":
    main()

"""Multi-process runs on JAX's own distributed runtime (``jax.distributed.initialize``).

``pimjax train`` and ``pimjax sweep`` take ``--coordinator HOST:PORT --num-processes N
--process-id I`` (:func:`add_args`); every process runs the same command with its own id. With
no flag, the environment variables ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID`` are used when set, and otherwise ``jax.distributed.initialize()`` is called
without arguments (JAX's auto-detection) only when JAX detects a cluster it knows (SLURM, Open
MPI, Kubernetes, Cloud TPU; ``PIMJAX_DISTRIBUTED=0`` turns that off): a plain single-process
run initializes nothing.

On a CPU the cross-process collectives use gloo (``jax_cpu_collectives_implementation``).
After initialization ``jax.devices()`` lists every device of every process: the meshes the
apps build span them all (the sweep's config axis, train's slices). Only process 0 writes
files (:func:`is_writer`); every process computes the same replicated results.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

_STATE = {"initialized": False}


def add_args(p: argparse.ArgumentParser) -> None:
    """Adds ``--coordinator``, ``--num-processes``, ``--process-id`` to a subcommand's parser."""
    g = p.add_argument_group("multi-process (jax.distributed; docs/devices.md)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0's coordinator (all processes pass the same; default: "
                   "$JAX_COORDINATOR_ADDRESS, else a detected cluster's, else one process)")
    g.add_argument("--num-processes", type=int, default=None, metavar="N", help="number of processes (default: $JAX_NUM_PROCESSES or the cluster's)")
    g.add_argument("--process-id", type=int, default=None, metavar="I", help="this process's id, 0..N-1 (default: $JAX_PROCESS_ID or the cluster's)")


def cluster_detected() -> str | None:
    """The name of the cluster JAX's auto-detection would use (SLURM, Open MPI, K8s, TPU), or None."""
    try:
        from jax._src.clusters import ClusterEnv
    except ImportError:  # private API moved: fall back on the variables JAX's detectors read
        for var, name in (("SLURM_JOB_ID", "slurm"), ("OMPI_MCA_orte_hnp_uri", "ompi"),
                          ("KUBERNETES_SERVICE_HOST", "k8s"), ("TPU_WORKER_HOSTNAMES", "tpu")):
            if var in os.environ:
                return name
        return None
    for env in ClusterEnv._cluster_types:
        try:
            if not env.opt_in_only_method and env.is_env_present():
                return env.name or env.__name__
        except Exception:  # noqa: BLE001 - a detector that cannot run means: not that cluster
            continue
    return None


def _from_env(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else None


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Starts JAX's distributed runtime if asked (module docstring); True when it runs.

    Must come before anything uses a JAX device. Explicit arguments win over
    ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``; with none of them,
    JAX's auto-detection runs only on a detected cluster. Idempotent.
    """
    if _STATE["initialized"]:
        return True
    coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    num_processes = num_processes if num_processes is not None else _from_env("JAX_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _from_env("JAX_PROCESS_ID")
    explicit = any(v is not None for v in (coordinator, num_processes, process_id))
    if explicit:
        if coordinator is None or num_processes is None or process_id is None:
            raise ValueError("multi-process runs need --coordinator HOST:PORT, --num-processes N and --process-id I "
                             "(or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID) together")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(f"need num_processes >= 1 and 0 <= process_id < num_processes, "
                             f"got {num_processes} and {process_id}")
    elif os.environ.get("PIMJAX_DISTRIBUTED", "").lower() in ("0", "false", "no", "off") or cluster_detected() is None:
        return False
    import jax

    _use_gloo_on_cpu(jax)
    if explicit:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    else:
        jax.distributed.initialize()
    _STATE["initialized"] = True
    return True


def _use_gloo_on_cpu(jax: Any) -> None:
    """CPU collectives across processes need an implementation (gloo ships with jaxlib)."""
    platforms = (os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME") or "").lower()
    if platforms and "cpu" not in platforms:
        return
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception:  # noqa: BLE001 - older/newer JAX without the option: its default
        pass


def initialize_from_args(args: argparse.Namespace) -> bool:
    """:func:`initialize` from the flags of :func:`add_args`."""
    return initialize(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
                      getattr(args, "process_id", None))


def process_index() -> int:
    import jax

    return int(jax.process_index())


def process_count() -> int:
    import jax

    return int(jax.process_count())


def is_writer() -> bool:
    """True on the process that writes files, tables and plots (process 0)."""
    return process_index() == 0


def global_array(x: Any, sharding: Any) -> Any:
    """A global ``jax.Array`` of the host value ``x`` (the same on every process) with ``sharding``.

    Each process materializes only its addressable shards, so this works on one process and on
    many alike (``jax.make_array_from_callback``).
    """
    import jax
    import numpy as np

    x = np.asarray(jax.device_get(x))
    with jax.enable_x64(True):  # keep int64/float64 leaves (resident codes, event totals) as they are
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def replicator(mesh: Any):
    """``place(tree)``: on several processes, ``tree``'s array leaves as replicated global arrays on
    ``mesh`` (the same host values on every process); on one process the identity."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    if process_count() == 1 or mesh is None:
        return lambda tree: tree
    sh = NamedSharding(mesh, PartitionSpec())

    def one(v):
        if isinstance(v, jax.Array) and v.sharding == sh:
            return v
        if isinstance(v, (jax.Array, np_types())):
            return global_array(v, sh)
        return v

    return lambda tree: jax.tree.map(one, tree)


def np_types():
    import numpy as np

    return (np.ndarray, np.generic)


def replicate_modules(mesh: Any, *modules: Any) -> None:
    """Puts every array of the Flax NNX ``modules`` (a model, its optimizer) on ``mesh``, replicated
    (several processes only): the jitted steps then run on the global mesh."""
    if process_count() == 1 or mesh is None:
        return
    from flax import nnx

    place = replicator(mesh)
    for m in modules:
        nnx.update(m, place(nnx.state(m)))


def host(x: Any) -> Any:
    """The value of a (possibly multi-process) array on this host, as numpy."""
    import numpy as np

    if getattr(x, "is_fully_addressable", True) or getattr(x, "is_fully_replicated", False):
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def sync(name: str) -> None:
    """A barrier across processes (no-op on one process)."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def check_train_devices(devices: int) -> None:
    """Several processes: training shards its slices over every device of every process."""
    import jax

    if process_count() > 1 and devices != len(jax.devices()):
        raise ValueError(f"a multi-process run shards its slices over every device of every process: "
                         f"TrainConfig.devices must be {len(jax.devices())} (all), got {devices}")


def initialize_from_argv(argv: Any) -> bool:
    """:func:`initialize` from ``--coordinator``/``--num-processes``/``--process-id`` anywhere in
    ``argv`` (``pimjax``'s entry point calls it before any subcommand builds its parser, since
    building one may already touch the JAX devices)."""
    p = argparse.ArgumentParser(add_help=False)
    add_args(p)
    try:
        known, _ = p.parse_known_args(list(argv))
    except SystemExit:  # a malformed value: the subcommand's own parser reports it
        return False
    return initialize_from_args(known)


__all__ = ["add_args", "cluster_detected", "global_array", "host", "initialize_from_argv", "replicate_modules",
           "replicator", "initialize", "initialize_from_args", "is_writer",
           "process_count", "process_index", "sync"]

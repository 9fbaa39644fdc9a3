"""What the numbers were measured on: CPU, cores, threads, load, library versions."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else `platform.processor()`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(package: str) -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), which sizes XLA's and torch's pools."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pin_threads(threads: int) -> list[int]:
    """Restricts this process to the first `threads` usable cores; call before importing jax.

    XLA's CPU client sizes its intra-op thread pool from the schedulable cores (the affinity
    mask), and torch's default intra-op count does too; the torch side also calls
    `torch.set_num_threads(threads)` explicitly. With one thread XLA's Eigen pool is switched
    off as well (`--xla_cpu_multi_thread_eigen=false`).

    Returns:
        The cores kept.
    """
    cores = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(cores):
        raise ValueError(f"--threads must be in [1, {len(cores)}] on this machine, got {threads}")
    keep = cores[:threads]
    os.sched_setaffinity(0, keep)
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        # (the CPU affinity above bounds XLA's thread pools; "intra_op_parallelism_threads=1",
        # often added here, is a TensorFlow option, not an XLA flag, and was dropped)
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return keep


def describe(threads: int) -> dict:
    """The machine record written into BENCH.md and bench.json."""
    load1, load5, _ = os.getloadavg()
    packages = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "torch", "torch_geometric")
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "load_average_1min": load1,
        "load_average_5min": load5,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": {p: version(p.replace("_", "-")) or version(p) for p in packages},
    }


def select_platform(device: str) -> None:
    """Call before importing jax. ``"cpu"`` pins JAX to the CPU (``JAX_PLATFORMS=cpu``), so a
    CPU column measured on a GPU machine is really the CPU; ``"gpu"`` leaves JAX's default
    (the accelerator when a CUDA/ROCm jaxlib is installed), checked by `accelerator`."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "cpu" and "jax" not in sys.modules:   # (once jax is imported it is too late)
        os.environ["JAX_PLATFORMS"] = "cpu"


def accelerator(device: str) -> dict:
    """What JAX runs on: backend, device kind and count. Imports jax.

    Raises:
        SystemExit: ``device == "gpu"`` but JAX's default backend is not a GPU.
    """
    import jax

    backend = jax.default_backend()
    if device == "gpu" and backend != "gpu":
        raise SystemExit(
            f"--device gpu: JAX's default backend is {backend!r}, not a GPU. Install a CUDA "
            "jaxlib (pip install -U 'jax[cuda12]') on a machine with an NVIDIA GPU, or run "
            "without --device gpu.")
    devices = jax.devices()
    return {"requested": device, "jax_backend": backend, "device_kind": devices[0].device_kind,
            "device_count": len(devices)}

"""Bandwidth traces and video chunk sizes for adaptive-bitrate (ABR) streaming.

The files are NetLLM's copies (Wu et al., SIGCOMM 2024, repository duowuyms/NetLLM, commit
105bcf07) of the FCC / Norway-3G throughput traces of the Pensieve line of work, under
``<root>/abr-fcc/`` (see the shared data README, section 8):

* ``traces/<split>/fcc-<split>/<name>``: one line per sample, ``time_s  throughput_mbps``
  (whitespace separated), time counted from 0;
* ``videos/video1_sizes/video_size_<q>``: one integer per line, the size in bytes of each of
  the 49 four-second chunks at bitrate level q = 0..5.

The root is the ``root`` argument, else ``$JAXNETS_DATA`` (``jaxnets.data._files.resolve_root``);
the folder is never downloaded. ``verify_abr_fcc`` checks the whole folder against the digest
recorded when it was imported (sha256 over the sorted (relative path, file sha256) list).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib

import numpy as np

from jaxnets.data._files import ENV_VAR, CorruptDataFileError, DataFileError, resolve_root

__all__ = ["FOLDER", "SPLITS", "AbrTraces", "load_abr_traces", "load_video_sizes",
           "pad_traces", "verify_abr_fcc"]

FOLDER = "abr-fcc"
SPLITS = ("train", "valid", "test")
NUM_LEVELS = 6
NUM_VIDEO_CHUNKS = 49
# sha256 over (relative path bytes, raw sha256 digest of the file) for every file, sorted by path.
_DIGEST = "fe25e1b0fbf0fd7d268f788615a2044a85f247955231500b507f4f5e4d2cc2cf"


@dataclasses.dataclass(frozen=True)
class AbrTraces:
    """A split's traces, each a pair of float32 arrays (time in s from 0, throughput in Mbit/s)."""

    names: tuple[str, ...]
    time_s: tuple[np.ndarray, ...]
    bw_mbps: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.names)


def _folder(root: str | os.PathLike[str] | None) -> pathlib.Path:
    base, origin = resolve_root(root)
    if root is None and origin == "cache":
        raise DataFileError(
            f"ABR traces need a data root: pass root=<folder that contains {FOLDER}/> or set "
            f"{ENV_VAR}; the {FOLDER} folder is not downloaded automatically.")
    folder = base / FOLDER
    if not folder.is_dir():
        raise DataFileError(
            f"ABR data folder not found: {folder} (from the "
            f"{'root= argument' if origin == 'argument' else ENV_VAR}). It should hold "
            f"traces/{{train,valid,test}}/fcc-<split>/ and videos/video1_sizes/; see the shared "
            f"data README, section 8.")
    return folder


def _read_trace(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if data.shape[1] != 2 or data.shape[0] < 2:
        raise ValueError(f"trace {path} must have >= 2 rows of (time_s, mbps); got shape "
                         f"{data.shape}")
    time_s, bw = data[:, 0], data[:, 1]
    if np.any(np.diff(time_s) < 0) or np.any(bw < 0):
        raise ValueError(f"trace {path} has decreasing times or negative throughput")
    return time_s.astype(np.float32), bw.astype(np.float32)


def load_abr_traces(split: str, root: str | os.PathLike[str] | None = None,
                    limit: int | None = None) -> AbrTraces:
    """Loads the traces of one split, sorted by file name.

    Args:
      split: "train" (235 traces), "valid" (150) or "test" (100).
      root: the data root (else $JAXNETS_DATA).
      limit: keep only the first `limit` traces (in name order).
    Raises:
      ValueError: for an unknown split; DataFileError: for a missing folder.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    directory = _folder(root) / "traces" / split / f"fcc-{split}"
    if not directory.is_dir():
        raise DataFileError(f"ABR trace folder not found: {directory}")
    paths = sorted(p for p in directory.iterdir() if p.is_file())
    if not paths:
        raise DataFileError(f"no trace files in {directory}")
    paths = paths[:limit] if limit is not None else paths
    loaded = [_read_trace(p) for p in paths]
    return AbrTraces(names=tuple(p.name for p in paths),
                     time_s=tuple(t for t, _ in loaded), bw_mbps=tuple(b for _, b in loaded))


def load_video_sizes(root: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Chunk sizes in bytes, int64 [6 levels, 49 chunks] (level 0 = 300 kbps ... 5 = 4300 kbps)."""
    directory = _folder(root) / "videos" / "video1_sizes"
    rows = []
    for level in range(NUM_LEVELS):
        path = directory / f"video_size_{level}"
        if not path.is_file():
            raise DataFileError(f"video size file not found: {path}")
        rows.append(np.loadtxt(path, dtype=np.int64, ndmin=1))
    sizes = np.stack(rows)
    if sizes.shape != (NUM_LEVELS, NUM_VIDEO_CHUNKS) or np.any(sizes <= 0):
        raise ValueError(f"video sizes must be positive [{NUM_LEVELS}, {NUM_VIDEO_CHUNKS}], got "
                         f"shape {sizes.shape}")
    return sizes


def pad_traces(traces: AbrTraces) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pads a split to one static shape for the JAX simulator.

    Returns:
      (time_NxT float32, bw_NxT float32, length_N int32), T = the longest trace; the padding
      repeats each trace's last sample (never read: the simulator wraps at `length`).
    """
    longest = max(len(t) for t in traces.time_s)
    time_pad = np.stack([np.pad(t, (0, longest - len(t)), mode="edge") for t in traces.time_s])
    bw_pad = np.stack([np.pad(b, (0, longest - len(b)), mode="edge") for b in traces.bw_mbps])
    lengths = np.array([len(t) for t in traces.time_s], np.int32)
    return time_pad, bw_pad, lengths


def verify_abr_fcc(root: str | os.PathLike[str] | None = None) -> None:
    """Checks every file of the folder against the recorded digest.

    Raises:
      CorruptDataFileError: naming the expected and the actual digest.
    """
    base = _folder(root).parent
    digest = hashlib.sha256()
    files = sorted(p for p in (base / FOLDER).rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: str(p.relative_to(base))):
        digest.update(str(path.relative_to(base)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    if digest.hexdigest() != _DIGEST:
        raise CorruptDataFileError(
            f"{base / FOLDER}: digest over its {len(files)} files is {digest.hexdigest()}, "
            f"expected {_DIGEST}; replace the folder with the original copy")

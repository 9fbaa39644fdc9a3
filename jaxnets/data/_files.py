"""Where data files live, how they are checked, and how they are downloaded.

A loader asks for files by their path relative to a *data root* (``"planetoid/ind.cora.x"``).
The root is chosen in this order (PyG's ``root`` argument, plus an environment default):

1. the ``root`` argument of the loader, if given;
2. else the ``JAXNETS_DATA`` environment variable, if set;
3. else a per-user cache, ``$XDG_CACHE_HOME/jaxnets`` (or ``~/.cache/jaxnets``), into which a
   missing file is downloaded from its source repository at the pinned commit.

Only the cache is ever downloaded into: a file missing from an explicit root or from
``$JAXNETS_DATA`` is an error, so an offline setup never reaches for the network. Every file's size
and sha256 (the table in ``_checksums.py``) are verified on every load.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import urllib.request
import warnings
from collections.abc import Sequence

from jaxnets.data import _checksums

ENV_VAR = "JAXNETS_DATA"
_CHUNK = 1 << 20


class DataFileError(FileNotFoundError):
    """A data file is missing, corrupted, or could not be downloaded.

    Subclasses ``FileNotFoundError`` so that ``except FileNotFoundError`` and ``except OSError``
    both catch it; the message names the file, the places looked in and how to fix it.
    """


class CorruptDataFileError(DataFileError, ValueError):
    """A data file's sha256 differs from the table (also a ``ValueError``): the message names
    the file, the expected and the actual hash."""


class UnverifiedDataWarning(UserWarning):
    """A data file was loaded whose sha256 is not on record in jaxnets."""


def cache_dir() -> pathlib.Path:
    """The download cache: ``$XDG_CACHE_HOME/jaxnets``, else ``~/.cache/jaxnets``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "jaxnets"


def resolve_root(root: str | os.PathLike[str] | None = None) -> tuple[pathlib.Path, str]:
    """Picks the data root: ``root`` argument > ``$JAXNETS_DATA`` > the download cache.

    Args:
      root: an explicit data folder, or None.

    Returns:
      ``(path, origin)`` where origin is ``"argument"``, ``"env"`` or ``"cache"``.
    """
    if root is not None:
        return pathlib.Path(root).expanduser(), "argument"
    env = os.environ.get(ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser(), "env"
    return cache_dir(), "cache"


def url_for(relpath: str) -> str:
    """The raw GitHub URL of a data file at its pinned source commit."""
    folder, _, rest = relpath.partition("/")
    src = _checksums.SOURCES[folder]
    return (f"https://raw.githubusercontent.com/{src.repo}/{src.commit}/"
            f"{src.remote_prefix}{rest}")


def download(url: str, dest: pathlib.Path) -> None:
    """Downloads ``url`` to ``dest`` (the loaders call this through the module, so tests can
    replace it with ``monkeypatch.setattr(_files, "download", fake)``)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as f:
        while chunk := response.read(_CHUNK):
            f.write(chunk)


def sha256_of(path: pathlib.Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _how_to_fix(relpath: str) -> str:
    folder = relpath.split("/")[0]
    return (f"Fix: pass root=<folder that contains {folder}/> to the loader, or set "
            f"{ENV_VAR}=<that folder>, or leave both unset to download into the cache "
            f"{cache_dir()} from {url_for(relpath)}.")


def _looked_in(path: pathlib.Path, origin: str) -> str:
    if origin == "argument":
        return (f"{path} (from the root= argument; {ENV_VAR} and the download cache are not "
                f"consulted when root= is given)")
    return (f"{path} (from {ENV_VAR}, as no root= argument was given; the download cache is "
            f"not consulted when {ENV_VAR} is set)")


def _verify(relpath: str, path: pathlib.Path, origin: str) -> None:
    if relpath in _checksums.UNVERIFIED:
        warnings.warn(f"{relpath}: no sha256 on record in jaxnets, loaded unverified from {path}",
                      UnverifiedDataWarning, stacklevel=4)
        return
    size, expected = _checksums.FILES[relpath]
    actual = sha256_of(path)
    if actual != expected:
        hint = ("delete it to download it again" if origin == "cache"
                else "replace it with the original file")
        raise CorruptDataFileError(
            f"Data file {relpath!r} at {path} is corrupted: sha256 is {actual} "
            f"({path.stat().st_size} bytes) but expected {expected} ({size} bytes). "
            f"Source: {url_for(relpath)}; {hint}. {_how_to_fix(relpath)}")


def _fetch_into_cache(relpath: str, dest: pathlib.Path) -> None:
    url = url_for(relpath)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        download(url, tmp)
        if relpath not in _checksums.UNVERIFIED:
            size, expected = _checksums.FILES[relpath]
            actual = sha256_of(tmp)
            if actual != expected:
                raise CorruptDataFileError(
                    f"Downloaded {relpath!r} from {url} but its sha256 is {actual}, expected "
                    f"{expected} ({size} bytes); nothing was written to {dest}.")
        os.replace(tmp, dest)
    except DataFileError:
        raise
    except Exception as err:  # network errors, HTTP errors, disk errors
        raise DataFileError(
            f"Data file {relpath!r} is not in the cache {dest.parent} and downloading it from "
            f"{url} failed: {err!r}. {_how_to_fix(relpath)}") from err
    finally:
        tmp.unlink(missing_ok=True)


def require(relpaths: Sequence[str],
            root: str | os.PathLike[str] | None = None) -> dict[str, pathlib.Path]:
    """Finds, downloads if allowed, and verifies data files.

    Args:
      relpaths: paths relative to the data root, each a key of ``_checksums.FILES`` (or of
        ``_checksums.UNVERIFIED``).
      root: the loader's ``root`` argument (see the module docstring for the order).

    Returns:
      A dict from each relpath to its verified absolute path.

    Raises:
      DataFileError: a file is missing (naming it, the places looked in and the fix), its
        sha256 differs from the table (naming both hashes), or its download failed.
    """
    base, origin = resolve_root(root)
    found: dict[str, pathlib.Path] = {}
    for relpath in relpaths:  # a handful of files per dataset
        if relpath not in _checksums.FILES and relpath not in _checksums.UNVERIFIED:
            raise KeyError(f"{relpath!r} is not a known jaxnets data file")
        path = base / relpath
        if not path.is_file():
            if origin != "cache":
                raise DataFileError(
                    f"Data file {relpath!r} not found. Looked in: {_looked_in(path, origin)}. "
                    f"{_how_to_fix(relpath)}")
            _fetch_into_cache(relpath, path)
        _verify(relpath, path, origin)
        found[relpath] = path
    return found

"""Data root resolution, checksums, missing/corrupted files and the (monkeypatched) download."""
import hashlib
import shutil

import numpy as np
import pytest

from jaxnets.data import (
    CorruptDataFileError,
    DataFileError,
    UnverifiedDataWarning,
    load_heterophilous,
    load_planetoid,
)
from jaxnets.data import _checksums, _files

TEXAS = "heterophilous-graphs/texas.npz"
TEXAS_SHA = "b164b99e6c3d43e4ab07488ec59bd8c815f90cbc1bd4cf425ce587d2b534d844"  # README table
TEXAS_URL = ("https://raw.githubusercontent.com/yandex-research/heterophilous-graphs/"
             "a431395582e929d88271309716bea4fe24ce6318/data/texas.npz")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(url, dest):
        raise AssertionError(f"unexpected download of {url}")
    monkeypatch.setattr(_files, "download", refuse)


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No $JAXNETS_DATA and a cache under tmp_path."""
    monkeypatch.delenv("JAXNETS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "jaxnets"


def _copy_texas(data_root, folder):
    dest = folder / TEXAS
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_root / TEXAS, dest)
    return dest


def _corrupt(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return hashlib.sha256(bytes(data)).hexdigest()


def test_table_matches_readme_spot_checks():
    assert _checksums.FILES[TEXAS] == (28586, TEXAS_SHA)
    assert _checksums.FILES["planetoid/ind.cora.x"][1] == (
        "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab")
    assert len(_checksums.FILES) == 139  # 16 + 70 + 15 + 17 + 19 + 1 + 1 files in the README


def test_urls_are_pinned_raw_github():
    assert _files.url_for(TEXAS) == TEXAS_URL
    assert _files.url_for("ml-100k/u1.base") == (
        "https://raw.githubusercontent.com/rohanpassi/recommender-systems-using-deep-learning/"
        "be0e72c7dcbbdfbc97921bb13d35a5624cd2a0ea/ml-100k/u1.base")
    assert _files.url_for("acm-heco/pap.npz") == (
        "https://raw.githubusercontent.com/liun-online/HeCo/"
        "20e8ca2042838877b2c815279920218b6bbea1db/data/acm/pap.npz")
    assert _files.url_for("geom-gcn/splits/film_split_0.6_0.2_3.npz") == (
        "https://raw.githubusercontent.com/graphdml-uiuc-jlu/geom-gcn/"
        "f1fc0d14b3b019c562737240d06ec83b07d16a8f/splits/film_split_0.6_0.2_3.npz")


def test_missing_file_names_file_and_places(tmp_path, no_network):
    with pytest.raises(DataFileError) as err:
        load_heterophilous("texas", root=tmp_path)
    msg = str(err.value)
    assert TEXAS in msg and str(tmp_path / TEXAS) in msg
    assert "root=" in msg and "JAXNETS_DATA" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_missing_file_under_env_root(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("JAXNETS_DATA", str(tmp_path / "env"))
    with pytest.raises(DataFileError, match="from JAXNETS_DATA") as err:
        load_planetoid("cora")
    assert str(tmp_path / "env" / "planetoid" / "ind.cora.x") in str(err.value)


def test_corrupted_file_names_both_hashes(data_root, tmp_path, no_network):
    path = _copy_texas(data_root, tmp_path)
    bad_sha = _corrupt(path)
    with pytest.raises(DataFileError) as err:
        load_heterophilous("texas", root=tmp_path)
    assert isinstance(err.value, CorruptDataFileError) and isinstance(err.value, ValueError)
    msg = str(err.value)
    assert TEXAS in msg and "corrupted" in msg
    assert TEXAS_SHA in msg and bad_sha in msg


def test_root_argument_beats_env(data_root, tmp_path, monkeypatch, no_network):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    _corrupt(_copy_texas(data_root, env_dir))
    _copy_texas(data_root, arg_dir)
    monkeypatch.setenv("JAXNETS_DATA", str(env_dir))
    assert load_heterophilous("texas", root=arg_dir).num_nodes == 183
    with pytest.raises(DataFileError, match="corrupted") as err:
        load_heterophilous("texas")
    assert str(env_dir) in str(err.value)


def test_env_beats_cache(data_root, tmp_path, monkeypatch, isolated_env, no_network):
    _corrupt(_copy_texas(data_root, isolated_env))  # a bad copy in the cache is never read
    _copy_texas(data_root, tmp_path / "env")
    monkeypatch.setenv("JAXNETS_DATA", str(tmp_path / "env"))
    assert load_heterophilous("texas").num_nodes == 183


def test_cache_downloads_once_from_pinned_url(data_root, monkeypatch, isolated_env):
    calls = []

    def fake_download(url, dest):
        calls.append(url)
        shutil.copyfile(data_root / TEXAS, dest)

    monkeypatch.setattr(_files, "download", fake_download)
    assert _files.cache_dir() == isolated_env
    d = load_heterophilous("texas")
    assert calls == [TEXAS_URL]
    assert (isolated_env / TEXAS).is_file()
    assert list((isolated_env / TEXAS).parent.iterdir()) == [isolated_env / TEXAS]
    assert d.num_nodes == 183
    load_heterophilous("texas")  # second load: verified from the cache, no download
    assert calls == [TEXAS_URL]


def test_cache_default_is_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _files.cache_dir() == tmp_path / ".cache" / "jaxnets"


def test_bad_download_leaves_nothing(data_root, monkeypatch, isolated_env):
    def wrong_bytes(url, dest):
        dest.write_bytes(b"<html>404</html>")

    monkeypatch.setattr(_files, "download", wrong_bytes)
    with pytest.raises(DataFileError, match=TEXAS_SHA):
        load_heterophilous("texas")
    assert not (isolated_env / TEXAS).exists()
    assert list((isolated_env / TEXAS).parent.iterdir()) == []

    def offline(url, dest):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_files, "download", offline)
    with pytest.raises(DataFileError, match="Network is unreachable") as err:
        load_heterophilous("texas")
    assert TEXAS_URL in str(err.value)


def test_multi_file_loader_downloads_every_file(data_root, monkeypatch, isolated_env):
    calls = []
    prefix = ("https://raw.githubusercontent.com/kimiyoung/planetoid/"
              "af6abf468a772cc055bec88c52e4d6f51b7c37e3/data/")

    def fake_download(url, dest):
        calls.append(url)
        shutil.copyfile(data_root / "planetoid" / url.removeprefix(prefix), dest)

    monkeypatch.setattr(_files, "download", fake_download)
    d = load_planetoid("cora")
    assert d.num_nodes == 2708
    parts = ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"]
    assert sorted(calls) == sorted(f"{prefix}ind.cora.{p}" for p in parts)
    assert np.array_equal(d.labels, load_planetoid("cora", root=data_root).labels)


def test_file_without_recorded_checksum_loads_with_warning(data_root, monkeypatch, isolated_env):
    """roman_empire.npz is not in the offline copy and its sha256 is not on record: with
    internet it is downloaded into the cache and loaded with an UnverifiedDataWarning."""
    calls = []

    def fake_download(url, dest):
        calls.append(url)
        shutil.copyfile(data_root / TEXAS, dest)  # stand-in bytes of the same format

    monkeypatch.setattr(_files, "download", fake_download)
    with pytest.warns(UnverifiedDataWarning, match="roman_empire.npz"):
        d = load_heterophilous("roman_empire")
    assert calls == [TEXAS_URL.replace("texas.npz", "roman_empire.npz")]
    assert d.name == "heterophilous/roman_empire"

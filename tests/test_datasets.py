"""hybridgen.datasets: the cache folder, downloads and their checks, with file:// URLs only."""

from __future__ import annotations

import hashlib
import io
import logging
import urllib.request

import numpy as np
import pandas as pd
import pytest

from hybridgen import datasets
from hybridgen.datasets import data_home, load_adult, load_mnist
from hybridgen.exceptions import DataValidationError, InvalidParameterError

from .conftest import SHARED_DATA, adult_path, requires_adult

RAW_NAMES = {"train": "adult.data", "test": "adult.test"}


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test reads the user's HYBRIDGEN_DATA or writes under the real home folder."""
    monkeypatch.delenv("HYBRIDGEN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _no_network(*args, **kwargs):
    raise AssertionError("urlopen was called although the file is cached")


def _raw_adult(lines: list[str], split: str) -> str:
    """Processed CSV rows (no header) written back in the layout of UCI's raw files."""
    first = "|1x3 Cross validator\n" if split == "test" else ""
    label_end = "." if split == "test" else ""
    body = "".join(", ".join(line.split(",")) + label_end + "\n" for line in lines)
    return first + body + "\n"


@pytest.fixture
def adult_rows() -> tuple[str, list[str]]:
    """The shared train CSV's header and a few of its rows, three of them with '?'."""
    if not adult_path().exists():
        pytest.skip("../shared/data not present")
    with open(adult_path()) as file:
        header = file.readline().rstrip("\n")
        body = [file.readline().rstrip("\n") for _ in range(200)]
    return header, body[:6] + [line for line in body if "?" in line][:3]


@pytest.fixture
def uci_mirror(tmp_path, monkeypatch, adult_rows) -> pd.DataFrame:
    """Raw adult.data and adult.test made of ``adult_rows``, served through a file:// URL.

    Returns the frame both files should load as.
    """
    header, rows = adult_rows
    mirror = tmp_path / "uci"
    mirror.mkdir()
    for split, name in RAW_NAMES.items():
        (mirror / name).write_text(_raw_adult(rows, split))
    monkeypatch.setattr(datasets, "ADULT_URL_BASE", mirror.as_uri() + "/")
    return pd.read_csv(io.StringIO("\n".join([header, *rows]) + "\n"))


# -- the cache folder -----------------------------------------------------------------------
def test_data_home_prefers_argument_then_environment_then_home(tmp_path, monkeypatch):
    assert data_home() == tmp_path / "home" / ".cache" / "hybridgen"
    monkeypatch.setenv("HYBRIDGEN_DATA", "")
    assert data_home() == tmp_path / "home" / ".cache" / "hybridgen"
    monkeypatch.setenv("HYBRIDGEN_DATA", str(tmp_path / "from_env"))
    assert data_home() == tmp_path / "from_env"
    assert data_home(tmp_path / "given") == tmp_path / "given"
    assert data_home("~/data") == tmp_path / "home" / "data"
    assert not (tmp_path / "from_env").exists()


# -- Adult ----------------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test"])
def test_adult_download_gives_the_processed_rows(uci_mirror, tmp_path, split, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="hybridgen.datasets"):
        frame = load_adult(split=split, cache_dir=cache)
    pd.testing.assert_frame_equal(frame, uci_mirror)
    assert (frame == "?").any(axis=None)
    assert sorted(p.name for p in cache.iterdir()) == [f"adult_{split}.csv"]
    assert datasets.ADULT_URL_BASE + RAW_NAMES[split] in caplog.text


def test_adult_second_call_reads_the_cache(uci_mirror, tmp_path, monkeypatch):
    first = load_adult(split="test", cache_dir=tmp_path / "cache")
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    pd.testing.assert_frame_equal(load_adult(split="test", cache_dir=tmp_path / "cache"), first)


def test_adult_honours_hybridgen_data(uci_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDGEN_DATA", str(tmp_path / "env_cache"))
    pd.testing.assert_frame_equal(load_adult(), uci_mirror)
    assert (tmp_path / "env_cache" / "adult_train.csv").is_file()
    assert not (tmp_path / "home").exists()


def test_adult_without_cache_and_download_false_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(DataValidationError) as info:
        load_adult(split="test", cache_dir=tmp_path / "cache", download=False)
    message = str(info.value)
    for part in [
        datasets.ADULT_URL_BASE + "adult.test",
        str(tmp_path / "cache" / "adult_test.csv"),
        "download=True",
        "by hand",
        "load_adult(path)",
    ]:
        assert part in message
    assert not (tmp_path / "cache").exists()


def test_adult_failed_download_raises_and_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(datasets, "ADULT_URL_BASE", (tmp_path / "empty").as_uri() + "/")
    with pytest.raises(DataValidationError, match="Could not download") as info:
        load_adult(cache_dir=tmp_path / "cache")
    assert (tmp_path / "empty").as_uri() + "/adult.data" in str(info.value)
    assert str(tmp_path / "cache" / "adult_train.csv") in str(info.value)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "bad_line, reason",
    [
        ("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical", "got 7 fields"),
        ("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
         "White, Male, 2174, 0, 40, United-States, rich", "got 15 fields"),
        ("<html><body>Moved</body></html>", "got 1 fields"),
    ],
)  # fmt: skip
def test_adult_download_in_another_format_is_refused(
    uci_mirror, tmp_path, monkeypatch, bad_line, reason
):
    mirror = tmp_path / "uci" / "adult.data"
    mirror.write_text(mirror.read_text() + bad_line + "\n")
    with pytest.raises(DataValidationError, match="is not the raw UCI Adult data") as info:
        load_adult(cache_dir=tmp_path / "cache")
    assert reason in str(info.value) and "line 11" in str(info.value)
    assert list((tmp_path / "cache").glob("*")) == []


@requires_adult
@pytest.mark.parametrize("split", ["train", "test"])
def test_adult_conversion_rebuilds_the_shared_file_byte_for_byte(tmp_path, monkeypatch, split):
    shared = adult_path(split).read_text()
    (tmp_path / "uci").mkdir()
    raw = _raw_adult(shared.splitlines()[1:], split)
    (tmp_path / "uci" / RAW_NAMES[split]).write_text(raw)
    monkeypatch.setattr(datasets, "ADULT_URL_BASE", (tmp_path / "uci").as_uri() + "/")
    frame = load_adult(split=split, cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / f"adult_{split}.csv").read_text() == shared
    assert frame.shape == {"train": (32561, 15), "test": (16281, 15)}[split]
    assert set(frame["income"]) == {"<=50K", ">50K"}


@requires_adult
def test_adult_from_a_path_skips_the_cache_and_refuses_other_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    frame = load_adult(adult_path("test"))
    assert frame.shape == (16281, 15) and frame.columns[-1] == "income"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataValidationError, match="does not look like the UCI Adult data"):
        load_adult(other)


def test_adult_rejects_an_unknown_split():
    message = (
        "The 'split' parameter of load_adult must be a str among ['test', 'train']. "
        "Got 'validation' instead."
    )
    with pytest.raises(InvalidParameterError) as info:
        load_adult(split="validation")
    assert str(info.value) == message


# -- MNIST ----------------------------------------------------------------------------------
@pytest.fixture
def fake_mnist(tmp_path, monkeypatch) -> tuple[str, dict[str, np.ndarray]]:
    """A tiny npz in Keras layout served at a file:// MNIST_URL; returns its sha256 and arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    source = tmp_path / "keras" / "mnist.npz"
    source.parent.mkdir()
    np.savez(source, **arrays)
    monkeypatch.setattr(datasets, "MNIST_URL", source.as_uri())
    return hashlib.sha256(source.read_bytes()).hexdigest(), arrays


def test_mnist_download_is_checked_and_cached(fake_mnist, tmp_path, monkeypatch):
    digest, arrays = fake_mnist
    monkeypatch.setattr(datasets, "MNIST_SHA256", digest)
    loaded = load_mnist(cache_dir=tmp_path / "cache")
    for got, key in zip(loaded, ["x_train", "y_train", "x_test", "y_test"], strict=True):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == np.uint8
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["mnist.npz"]
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    np.testing.assert_array_equal(load_mnist(cache_dir=tmp_path / "cache")[0], arrays["x_train"])


def test_mnist_checksum_mismatch_raises_and_writes_nothing(fake_mnist, tmp_path, monkeypatch):
    digest, _ = fake_mnist
    monkeypatch.setattr(datasets, "MNIST_SHA256", "0" * 64)
    with pytest.raises(DataValidationError) as info:
        load_mnist(cache_dir=tmp_path / "cache")
    message = str(info.value)
    for part in [
        f"has sha256 {digest}, expected {'0' * 64}",
        datasets.MNIST_URL,
        str(tmp_path / "cache" / "mnist.npz"),
        "by hand",
    ]:
        assert part in message
    assert list((tmp_path / "cache").glob("*")) == []


def test_mnist_without_cache_and_download_false_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(DataValidationError, match="download=False") as info:
        load_mnist(download=False)
    assert datasets.MNIST_URL in str(info.value)
    assert str(tmp_path / "home" / ".cache" / "hybridgen" / "mnist.npz") in str(info.value)


def test_mnist_from_a_path_needs_the_keras_arrays(tmp_path):
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataValidationError, match=r"lacks \['x_train', 'y_train'"):
        load_mnist(tmp_path / "wrong.npz")


@pytest.mark.skipif(not (SHARED_DATA / "mnist.npz").exists(), reason="../shared/data not present")
def test_mnist_from_the_shared_file_has_the_documented_shapes():
    x_train, y_train, x_test, y_test = load_mnist(SHARED_DATA / "mnist.npz")
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and set(np.unique(y_test)) == set(range(10))

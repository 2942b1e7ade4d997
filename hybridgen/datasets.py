"""Small built-in data sets and loaders for the public ones.

Nothing large ships with hybridgen. ``load_adult`` and ``load_mnist`` read a file the
user points them at, or else a copy in the cache folder (see :func:`data_home`),
downloading it there on first use: the UCI Adult files, converted to a CSV with a
header, and the Keras ``mnist.npz``. Downloads are checked (Adult: its format; MNIST:
its sha256) and written atomically, so the cache never holds a partial file.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.request
import uuid
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .exceptions import DataValidationError, InvalidParameterError

__all__ = [
    "ADULT_URL_BASE",
    "MNIST_SHA256",
    "MNIST_URL",
    "data_home",
    "load_adult",
    "load_digits_images",
    "load_mnist",
    "make_mixed_table",
]

logger = logging.getLogger(__name__)

#: Folder of the raw UCI Adult files ``adult.data`` (train) and ``adult.test`` (test).
ADULT_URL_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
#: The Keras copy of ``mnist.npz`` (the one ``keras.datasets.mnist.load_data`` fetches).
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
#: sha256 of the file at ``MNIST_URL``, as published in Keras's ``mnist.load_data``.
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
_ADULT_INCOME = ("<=50K", ">50K")
_ADULT_RAW_NAMES = {"train": "adult.data", "test": "adult.test"}
_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
_TIMEOUT_S = 60.0


def data_home(cache_dir: str | PathLike[str] | None = None) -> Path:
    """The folder where the loaders keep downloaded data sets.

    Chosen in this order: ``cache_dir`` when given, else the environment variable
    ``HYBRIDGEN_DATA`` when set and not empty, else ``~/.cache/hybridgen``. A leading
    ``~`` is expanded. The folder is not created here; a loader creates it when it
    downloads.

    Parameters
    ----------
    cache_dir : str, path-like or None, default=None
        An explicit folder, which wins over the environment.

    Returns
    -------
    home : Path
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get("HYBRIDGEN_DATA")
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".cache" / "hybridgen"


def make_mixed_table(n_samples: int = 1000, *, random_state: Any = None) -> pd.DataFrame:
    """A synthetic customer table with every kind of column hybridgen handles.

    Two latent segments drive every column, so a good model must capture
    dependencies between numeric and categorical columns.

    Parameters
    ----------
    n_samples : int, default=1000
    random_state : int, RandomState instance or None

    Returns
    -------
    frame : DataFrame of shape (n_samples, 6)
        ``age`` (int64), ``income`` (float64, about 8% missing), ``tenure`` (float64),
        ``member`` (bool), ``region`` (str, about 3% missing), ``plan``
        (Categorical basic < plus < premium).
    """
    rng = check_random_state(random_state)
    segment = rng.binomial(1, 0.4, n_samples)
    age = np.where(segment, rng.normal(52, 7, n_samples), rng.normal(31, 5, n_samples))
    income = np.exp(rng.normal(10.2 + 0.5 * segment, 0.3))
    income[rng.random_sample(n_samples) < 0.08] = np.nan
    tenure = rng.gamma(2.0 + 3.0 * segment, 1.5)
    regions = np.array(["north", "south", "east", "west"], dtype=object)
    p_region = np.where(segment[:, None], [0.5, 0.2, 0.2, 0.1], [0.1, 0.3, 0.3, 0.3])
    region = regions[(rng.random_sample(n_samples)[:, None] > p_region.cumsum(1)).sum(1)]
    region[rng.random_sample(n_samples) < 0.03] = np.nan
    plan = np.where(
        segment,
        rng.choice(["plus", "premium"], n_samples),
        rng.choice(["basic", "plus"], n_samples),
    )
    return pd.DataFrame(
        {
            "age": np.clip(age, 18, 90).round().astype("int64"),
            "income": income.round(2),
            "tenure": tenure.round(3),
            "member": rng.random_sample(n_samples) < 0.2 + 0.5 * segment,
            "region": pd.Series(region, dtype="str"),
            "plan": pd.Categorical(plan, categories=["basic", "plus", "premium"], ordered=True),
        }
    )


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (bundled with scikit-learn) as uint8 images.

    Returns
    -------
    images : ndarray of shape (1797, 8, 8), uint8 in 0..255
    labels : ndarray of shape (1797,), int64
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def load_adult(
    path: str | PathLike[str] | None = None,
    *,
    split: str = "train",
    cache_dir: str | PathLike[str] | None = None,
    download: bool = True,
) -> pd.DataFrame:
    """The UCI Adult (Census Income) table, from a CSV or from the cache.

    The CSV has a header with the 15 standard names and no space after the commas;
    missing values stay as the literal string ``?`` (read them as missing with
    ``frame.replace("?", np.nan)``, or keep ``?`` as its own category). Without
    ``path``, ``adult_<split>.csv`` is read from :func:`data_home`; when it is not
    there, the raw ``adult.data`` / ``adult.test`` is downloaded from
    ``ADULT_URL_BASE``, its format checked (15 fields a row, income ``<=50K`` or
    ``>50K``), converted to that CSV (``>50K.`` becomes ``>50K``; ``adult.test``'s
    first line, ``|1x3 Cross validator``, is skipped) and saved.

    Parameters
    ----------
    path : str, path-like or None, default=None
        A processed CSV such as ``adult_train.csv``; when given, the cache is not used
        and ``split`` plays no part.
    split : {"train", "test"}, default="train"
        The official split: ``adult.data`` (32,561 rows) or ``adult.test`` (16,281 rows).
    cache_dir : str, path-like or None, default=None
        The cache folder; see :func:`data_home`.
    download : bool, default=True
        Download the file when it is not cached; with False, a missing file is an error.

    Returns
    -------
    frame : DataFrame of shape (n_rows, 15)
        Integer columns as int64, the others as str; ``income`` is the target.

    Raises
    ------
    InvalidParameterError
        ``split`` is not ``"train"`` or ``"test"``.
    DataValidationError
        The CSV is not the Adult data, or the file is not cached and cannot be
        downloaded (``download=False``, no network, or a download in another format);
        the message names the URL and the cache path and says how to get the file by
        hand.

    Examples
    --------
    >>> from hybridgen.datasets import load_adult
    >>> load_adult(split="test").shape  # doctest: +SKIP
    (16281, 15)
    """
    if split not in _ADULT_RAW_NAMES:
        raise InvalidParameterError(
            "The 'split' parameter of load_adult must be a str among ['test', 'train']. "
            f"Got {split!r} instead."
        )
    if path is None:
        name = f"adult_{split}.csv"
        path = _cached_file(
            name,
            url=ADULT_URL_BASE + _ADULT_RAW_NAMES[split],
            cache_dir=cache_dir,
            download=download,
            convert=_adult_csv,
            by_hand=(
                "add a first line with the 15 standard column names, remove the space "
                "after each comma (for adult.test, also its first line and the '.' that "
                "ends each label) and pass the result as load_adult(path); or run "
                f"load_adult(split={split!r}) where there is network access and copy the "
                f"{name} it saves to that path"
            ),
        )
    frame = pd.read_csv(path)
    if "income" not in frame.columns:
        raise DataValidationError(
            f"{path} does not look like the UCI Adult data: no 'income' column among "
            f"{list(frame.columns)[:5]}..."
        )
    return frame


def load_mnist(
    path: str | PathLike[str] | None = None,
    *,
    cache_dir: str | PathLike[str] | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST handwritten digits, from an ``mnist.npz`` in Keras layout or from the cache.

    Without ``path``, ``mnist.npz`` is read from :func:`data_home`; when it is not
    there, it is downloaded from ``MNIST_URL``, its sha256 compared with
    ``MNIST_SHA256``, and saved.

    Parameters
    ----------
    path : str, path-like or None, default=None
        An ``.npz`` holding the arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``;
        when given, the cache is not used.
    cache_dir : str, path-like or None, default=None
        The cache folder; see :func:`data_home`.
    download : bool, default=True
        Download the file when it is not cached; with False, a missing file is an error.

    Returns
    -------
    x_train : ndarray of shape (60000, 28, 28), uint8
    y_train : ndarray of shape (60000,)
    x_test : ndarray of shape (10000, 28, 28), uint8
    y_test : ndarray of shape (10000,)

    Raises
    ------
    DataValidationError
        The file lacks one of the four arrays, or it is not cached and cannot be
        downloaded (``download=False``, no network, or a sha256 mismatch); the message
        names the URL and the cache path and says how to get the file by hand.

    Examples
    --------
    >>> from hybridgen.datasets import load_mnist
    >>> x_train, y_train, x_test, y_test = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, x_test.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
    """
    if path is None:
        path = _cached_file(
            "mnist.npz",
            url=MNIST_URL,
            cache_dir=cache_dir,
            download=download,
            convert=_checked_mnist,
            by_hand="save it under that path, or pass its path: load_mnist(path)",
        )
    with np.load(path) as data:
        missing = [key for key in _MNIST_KEYS if key not in data.files]
        if missing:
            raise DataValidationError(
                f"{path} is not an mnist.npz in Keras layout: it lacks {missing} "
                f"(it holds {data.files})."
            )
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]


def _cached_file(
    name: str,
    *,
    url: str,
    cache_dir: str | PathLike[str] | None,
    download: bool,
    convert: Callable[[bytes], bytes],
    by_hand: str,
) -> Path:
    """The path of ``name`` in the cache, downloading ``url`` through ``convert`` if needed.

    ``convert`` checks the downloaded bytes and returns what to save; it raises
    :class:`DataValidationError` with a reason ("has sha256 ..., expected ...").
    """
    target = data_home(cache_dir) / name
    if target.is_file():
        logger.debug("Reading %s from the cache", target)
        return target
    hint = f"To get it by hand, download {url} on a machine with network access, then {by_hand}."
    if not download:
        raise DataValidationError(
            f"{name} is not in the cache at {target} and download=False. Pass "
            f"download=True to fetch it from {url}. {hint}"
        )
    logger.info("Downloading %s to %s", url, target)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            raw = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise DataValidationError(
            f"Could not download {url} into the cache at {target}: {exc}. {hint}"
        ) from exc
    try:
        content = convert(raw)
    except DataValidationError as exc:
        raise DataValidationError(
            f"The file downloaded from {url} {exc}; nothing was written to {target}. {hint}"
        ) from exc
    _write_atomically(target, content)
    logger.info("Saved %s (%d bytes)", target, len(content))
    return target


def _write_atomically(target: Path, content: bytes) -> None:
    """Write to a temporary file beside ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with open(partial, "xb") as file:
            file.write(content)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _adult_csv(raw: bytes) -> bytes:
    """Raw ``adult.data`` / ``adult.test`` to the processed CSV, checking its format.

    Blank lines and ``|`` comment lines (``adult.test``'s first) are skipped, spaces
    around the fields stripped, and a trailing ``.`` dropped from the income label.
    """
    rows = [",".join(_ADULT_COLUMNS)]
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("|"):
            continue
        fields = [field.strip() for field in line.split(",")]
        fields[-1] = fields[-1].removesuffix(".")
        if len(fields) != len(_ADULT_COLUMNS) or fields[-1] not in _ADULT_INCOME:
            raise DataValidationError(
                f"is not the raw UCI Adult data: line {number} should have "
                f"{len(_ADULT_COLUMNS)} comma-separated fields ending with an income in "
                f"{list(_ADULT_INCOME)}, got {len(fields)} fields: {line[:80]!r}"
            )
        rows.append(",".join(fields))
    if len(rows) == 1:
        raise DataValidationError("is not the raw UCI Adult data: it holds no rows")
    return ("\n".join(rows) + "\n").encode("utf-8")


def _checked_mnist(raw: bytes) -> bytes:
    """The downloaded ``mnist.npz`` unchanged, once its sha256 is ``MNIST_SHA256``."""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_SHA256:
        raise DataValidationError(f"has sha256 {digest}, expected {MNIST_SHA256}")
    return raw

"""Small built-in data sets and loaders for the public ones.

Nothing large ships with hybridgen: ``load_adult`` and ``load_mnist`` read files the
user points them at (the UCI Adult CSV and an ``mnist.npz`` in Keras layout).
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .exceptions import DataValidationError

__all__ = ["load_adult", "load_digits_images", "load_mnist", "make_mixed_table"]


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


def load_adult(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a UCI Adult CSV (header with the 15 standard names; ``?`` kept as a category).

    Parameters
    ----------
    path : path to ``adult_train.csv`` or ``adult_test.csv``

    Returns
    -------
    frame : DataFrame of shape (n_rows, 15)
    """
    frame = pd.read_csv(path)
    if "income" not in frame.columns:
        raise DataValidationError(
            f"{path} does not look like the UCI Adult data: no 'income' column among "
            f"{list(frame.columns)[:5]}..."
        )
    return frame


def load_mnist(path: str | PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``mnist.npz`` (Keras layout).

    Returns
    -------
    x_train : ndarray of shape (60000, 28, 28), uint8
    y_train : ndarray of shape (60000,)
    x_test : ndarray of shape (10000, 28, 28), uint8
    y_test : ndarray of shape (10000,)
    """
    with np.load(path) as data:
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]

"""Augment a labelled training set with rows generated for chosen classes.

:func:`augment` fits a generative model to the features and the label together, then
samples rows *conditioned on the label* (``sample(conditions=...)``), so every
generated row comes with the class it was generated for. Conditioning, not rejection:
a rare class costs no more to generate than a common one. Tables: the label is one
more categorical column (a neural model is given it as a condition column). Images:
the model is fitted with the labels, ``fit(X, y)``, and draws images of each class.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._validation import Interval
from .exceptions import DataValidationError, InvalidParameterError

__all__ = ["augment"]


def augment(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    strategy: str | float = "balance",
    random_state: Any = None,
) -> tuple[Any, np.ndarray]:
    """Return ``X`` and ``y`` with generated rows added.

    Parameters
    ----------
    estimator : an unfitted hybridgen estimator
        Cloned and fitted on ``X`` with ``y`` as one more categorical column (added to
        its ``condition_columns`` when it has that parameter, so a neural model
        learns to generate given the label), or on images with ``y`` as labels; it
        must support ``sample(conditions=...)``.
    X : DataFrame, array-like of shape (n_samples, n_features), or images of shape
        (n_samples, H, W) or (n_samples, C, H, W)
        The real training rows; never modified.
    y : array-like of shape (n_samples,)
        Their class labels.
    strategy : "balance" or float, default="balance"
        ``"balance"``: generate rows for every class smaller than the largest until all
        classes are as large. A float ``r > 0``: add ``round(r * n_samples)`` rows,
        shared among the classes in proportion to their frequencies.
    random_state : int, RandomState instance or None, default=None
        Seeds the clone's fit (when it has ``random_state``) and the draw.

    Returns
    -------
    X_augmented : DataFrame, ndarray of shape (n_samples + n_generated, n_features), or images
        The real rows first, then the generated ones, of the kind and dtypes of ``X``.
    y_augmented : ndarray of shape (n_samples + n_generated,)
        The labels, the generated rows' being the classes they were conditioned on.

    Examples
    --------
    >>> import numpy as np
    >>> from hybridgen import GaussianMixture, augment
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (90, 2)), rng.normal(4, 1, (10, 2))])
    >>> y = np.array([0] * 90 + [1] * 10)
    >>> X_aug, y_aug = augment(GaussianMixture(n_components=2), X, y, random_state=0)
    >>> np.bincount(y_aug).tolist()
    [90, 90]
    """
    images = not isinstance(X, pd.DataFrame) and np.ndim(X) in (3, 4)
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(X):
        raise DataValidationError(
            f"y must be 1-D with one label per row of X ({len(X)}); got shape {labels.shape}."
        )
    counts = _counts_to_generate(pd.Series(labels).value_counts(sort=False), strategy)
    frame, is_array = (None, False) if images else _as_frame(X)
    model = clone(estimator)
    if random_state is not None and "random_state" in model.get_params():
        model.set_params(random_state=random_state)
    wanted = np.repeat(np.asarray(counts.index, dtype=object), counts.to_numpy())
    if len(wanted) == 0:
        return (X.copy() if hasattr(X, "copy") else np.array(X)), labels.copy()
    if frame is None:  # images: a model of p(x | y), sampled per class
        model.fit(X, labels)
        drawn = model.sample(len(wanted), conditions=wanted, random_state=random_state)
        return np.concatenate([np.asarray(X), drawn]), np.concatenate(
            [labels, wanted.astype(labels.dtype)]
        )
    target = _free_name(frame.columns)
    if "condition_columns" in model.get_params():  # a neural model: given the label
        given = list(model.get_params()["condition_columns"] or [])
        model.set_params(condition_columns=[*given, target])
    classes = pd.Categorical(labels)
    model.fit(frame.assign(**{target: classes}))
    conditions = pd.DataFrame({target: pd.Categorical(wanted, categories=classes.categories)})
    drawn = model.sample(len(wanted), conditions=conditions, random_state=random_state)
    generated = drawn.drop(columns=[target])
    new_labels = np.asarray(drawn[target].astype(object)).astype(labels.dtype)
    if is_array:
        rows = np.vstack([np.asarray(X, dtype=np.float64), generated.to_numpy(np.float64)])
    else:
        rows = pd.concat([X, generated], ignore_index=True)
    return rows, np.concatenate([labels, new_labels])


def _as_frame(X: Any) -> tuple[pd.DataFrame, bool]:
    if isinstance(X, pd.DataFrame):
        return X, False
    array = np.asarray(X)
    if array.ndim != 2:
        raise DataValidationError(
            "augment takes a DataFrame, a 2-D array of rows, or images of shape (N, H, W) "
            f"or (N, C, H, W); got an array of shape {array.shape}."
        )
    columns = [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array.astype(np.float64), columns=columns), True


def _counts_to_generate(counts: pd.Series, strategy: str | float) -> pd.Series:
    """Rows to generate per class (indexed by class)."""
    if strategy == "balance":
        return counts.max() - counts
    if isinstance(strategy, Real) and not isinstance(strategy, bool):
        if Interval(Real, 0, None, "neither").is_satisfied_by(strategy):
            total = int(round(float(strategy) * counts.sum()))
            share = counts / counts.sum() * total
            whole = np.floor(share).astype(int)
            remainder = total - int(whole.sum())  # largest remainders get one more row
            order = np.argsort(-(share - whole).to_numpy(), kind="stable")[:remainder]
            whole.iloc[order] += 1
            return whole
    raise InvalidParameterError(
        "The 'strategy' parameter of augment must be 'balance' or a float in the range "
        f"(0, inf). Got {strategy!r} instead."
    )


def _free_name(columns: pd.Index) -> str:
    name = "target"
    while name in columns:
        name = f"_{name}"
    return name

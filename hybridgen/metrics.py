"""Pure functions that measure synthetic tables against real ones.

Three questions about tables, one function family each (taking pandas DataFrames
with the same columns and returning plain numbers or a tidy pandas object), and the
feature-space measures of images (taking arrays):

fidelity
    :func:`column_shapes`, :func:`column_pair_trends` and :func:`quality_score`
    follow the definitions of the SDMetrics QualityReport: the complement of the
    Kolmogorov-Smirnov statistic (numeric columns) or of the total variation
    distance (categorical columns), the correlation similarity of numeric pairs and
    the contingency similarity of every other pair. 1.0 means identical.
utility
    :func:`ml_utility` trains a classifier (or regressor) on one table and tests it
    on real rows: "train on synthetic, test on real" (TSTR), or the real-data
    ceiling (TRTR) when given the real train split.
privacy
    :func:`dcr_ratio` compares each synthetic row's distance to its closest real
    training row with the same distance for real rows never trained on.
images
    :class:`ImageFeatures` trains a small convolutional classifier on the real,
    labelled training images (no downloaded weights) and maps images to its
    penultimate layer (:func:`cached_image_features` trains it once per dataset);
    :func:`frechet_distance` compares two sets of such features (the Frechet
    distance of Gaussians fitted to each, as FID does with Inception) and
    :func:`precision_recall_density_coverage` measures fidelity and diversity there.

Column kinds: int and float columns are numeric; everything else (str, object,
category, bool) is categorical. A missing value in a categorical column is a
category of its own; numeric comparisons drop missing values, except the
contingency table, where a missing numeric cell is a bin of its own.
"""

from __future__ import annotations

import hashlib
import logging
import os
from itertools import combinations
from numbers import Integral
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, r2_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import check_random_state

from ._validation import Interval, Options
from .exceptions import DataValidationError, InvalidParameterError

__all__ = [
    "cached_image_features",
    "column_pair_trends",
    "column_shapes",
    "dcr_ratio",
    "detection_auc",
    "frechet_distance",
    "ImageFeatures",
    "is_numeric",
    "ml_utility",
    "precision_recall_density_coverage",
    "quality_score",
]

#: numeric columns are cut into this many equal-width bins for contingency tables
N_BINS = 10
#: a numeric target with at most this many distinct values is a classification target
MAX_CLASSES = 20
_MODELS = Options({"hgb", "logreg"})
logger = logging.getLogger(__name__)


# -- column kinds and input checks ------------------------------------------------------------
def is_numeric(column: pd.Series) -> bool:
    """True for int and float columns (bool, str, object and category are categorical)."""
    dtype = column.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _check_frames(frames: dict[str, Any]) -> None:
    """Check that every frame is a non-empty DataFrame with the first one's columns (any
    order) and column kinds."""
    names = list(frames)
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise DataValidationError(
                f"The {name} data must be a pandas DataFrame. Got {type(frame).__name__} instead."
            )
        if len(frame) == 0:
            raise DataValidationError(f"The {name} data has no rows.")
    reference = frames[names[0]]
    for name in names[1:]:
        frame = frames[name]
        missing = [c for c in reference.columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in reference.columns]
        if missing:
            raise DataValidationError(
                f"Column {missing[0]!r} of the {names[0]} data is missing from the {name} data; "
                f"both must have the same columns (missing: {missing}, extra: {extra})."
            )
        if extra:
            raise DataValidationError(
                f"Column {extra[0]!r} of the {name} data is not in the {names[0]} data; both "
                f"must have the same columns (extra: {extra})."
            )
        for column in reference.columns:
            if is_numeric(reference[column]) != is_numeric(frame[column]):
                raise DataValidationError(
                    f"Column {column!r} is {reference[column].dtype} in the {names[0]} data but "
                    f"{frame[column].dtype} in the {name} data; a column must be numeric (int, "
                    "float) in both or categorical in both."
                )


def _numeric_values(column: pd.Series) -> np.ndarray:
    """float64 values of a numeric column, missing values as NaN; shape (n_rows,)."""
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _label_values(column: pd.Series) -> np.ndarray:
    """object array of a categorical column's values as str, missing values as NaN."""
    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    labels = values.astype(str).astype(object)
    labels[missing] = np.nan
    return labels


# -- discrete codes shared by the fidelity metrics --------------------------------------------
def _category_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of both columns over their joint categories (missing is a category)."""
    values = np.concatenate([_label_values(real), _label_values(synthetic)])
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes[: len(real)], codes[len(real) :], len(uniques)


def _bin_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin numbers of both columns: ``N_BINS`` equal-width bins spanning the real column's
    range (synthetic values outside clip to the end bins); a missing cell gets bin
    ``N_BINS``."""
    x_real, x_syn = _numeric_values(real), _numeric_values(synthetic)
    present = x_real[~np.isnan(x_real)]
    low, high = (present.min(), present.max()) if present.size else (0.0, 0.0)
    inner_edges = np.linspace(low, high, N_BINS + 1)[1:-1]

    def codes(x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), N_BINS, np.searchsorted(inner_edges, x, side="right"))

    return codes(x_real), codes(x_syn), N_BINS + 1


def _discrete_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    if is_numeric(real):
        return _bin_codes(real, synthetic)
    return _category_codes(real, synthetic)


def _frequencies(codes: np.ndarray, n_levels: int) -> np.ndarray:
    return np.bincount(codes, minlength=n_levels) / len(codes)


def _tv_complement(real_codes: np.ndarray, syn_codes: np.ndarray, n_levels: int) -> float:
    """1 - total variation distance of two frequency tables."""
    gap = np.abs(_frequencies(real_codes, n_levels) - _frequencies(syn_codes, n_levels))
    return float(1.0 - 0.5 * gap.sum())


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical
    CDFs of ``a`` and ``b`` (1-D arrays without NaN)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    a, b = _numeric_values(real), _numeric_values(synthetic)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return 1.0 if a.size == b.size else 0.0
    return 1.0 - _ks_statistic(a, b)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on the rows where both are present; NaN when undefined."""
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 2:
        return float("nan")
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    scale = float(np.sqrt((x @ x) * (y @ y)))
    return float(np.clip((x @ y) / scale, -1.0, 1.0)) if scale > 0 else float("nan")


# -- fidelity -------------------------------------------------------------------------------
def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.Series:
    """How well each column's marginal distribution is reproduced.

    Numeric columns score ``1 - KS``, the complement of the two-sample
    Kolmogorov-Smirnov statistic (missing values dropped; a column with no values
    in exactly one table scores 0). Categorical columns score ``1 - TV`` with
    ``TV = 0.5 * sum_c |p_real(c) - p_synthetic(c)|`` over the categories of both,
    missing being a category.

    Parameters
    ----------
    real : DataFrame of shape (n_real, n_columns)
    synthetic : DataFrame of shape (n_synthetic, n_columns)
        The same columns as ``real``, in any order.

    Returns
    -------
    scores : Series of shape (n_columns,)
        Indexed by column name, in ``real``'s order; each in [0, 1], 1 is identical.

    Raises
    ------
    DataValidationError
        When the columns differ, or a column is numeric in one table only.

    Examples
    --------
    >>> import pandas as pd
    >>> real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", "b"]})
    >>> synthetic = pd.DataFrame({"x": [1.0, 2.0, 3.0, 9.0], "c": ["a", "b", "b", "b"]})
    >>> column_shapes(real, synthetic).round(2).to_dict()
    {'x': 0.75, 'c': 0.75}
    """
    _check_frames({"real": real, "synthetic": synthetic})
    scores = {}
    for column in real.columns:
        if is_numeric(real[column]):
            scores[column] = _ks_complement(real[column], synthetic[column])
        else:
            scores[column] = _tv_complement(*_category_codes(real[column], synthetic[column]))
    return pd.Series(scores, index=real.columns, dtype=np.float64, name="score")


def _pair_score(
    pair: tuple[Any, Any],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    codes: dict[Any, tuple[np.ndarray, np.ndarray, int]],
) -> tuple[str, float]:
    a, b = pair
    if is_numeric(real[a]) and is_numeric(real[b]):
        rho_real = _pearson(_numeric_values(real[a]), _numeric_values(real[b]))
        rho_syn = _pearson(_numeric_values(synthetic[a]), _numeric_values(synthetic[b]))
        return "correlation_similarity", 1.0 - abs(rho_real - rho_syn) / 2.0
    (real_a, syn_a, n_a), (real_b, syn_b, n_b) = codes[a], codes[b]
    joint = _tv_complement(real_a * n_b + real_b, syn_a * n_b + syn_b, n_a * n_b)
    return "contingency_similarity", joint


def column_pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """How well the relation between every two columns is reproduced.

    Two numeric columns score the correlation similarity
    ``1 - |rho_real - rho_synthetic| / 2`` (Pearson, on the rows where both cells
    are present; NaN when a correlation is undefined, e.g. a constant column). Any
    pair with a categorical column scores the contingency similarity
    ``1 - 0.5 * sum_{a,b} |P_real(a, b) - P_synthetic(a, b)|`` over the joint
    frequency table; a numeric column enters it cut into 10 equal-width bins
    spanning the real column's range (synthetic values outside fall in the end
    bins, a missing cell in a bin of its own).

    Parameters
    ----------
    real : DataFrame of shape (n_real, n_columns)
    synthetic : DataFrame of shape (n_synthetic, n_columns)

    Returns
    -------
    trends : DataFrame of shape (n_columns * (n_columns - 1) / 2, 4)
        Columns ``column_1``, ``column_2``, ``metric`` (``"correlation_similarity"``
        or ``"contingency_similarity"``) and ``score`` in [0, 1]; one row per
        unordered pair, in ``real``'s column order.

    Raises
    ------
    DataValidationError
        When the columns differ, or a column is numeric in one table only.
    """
    _check_frames({"real": real, "synthetic": synthetic})
    codes: dict[Any, tuple[np.ndarray, np.ndarray, int]] = {}
    if not all(is_numeric(real[column]) for column in real.columns):
        # every column meets a categorical one: discretise each once
        codes = {c: _discrete_codes(real[c], synthetic[c]) for c in real.columns}
    rows = []
    for pair in combinations(real.columns, 2):
        metric, score = _pair_score(pair, real, synthetic, codes)
        rows.append((pair[0], pair[1], metric, score))
    frame = pd.DataFrame(rows, columns=["column_1", "column_2", "metric", "score"])
    return frame.astype({"score": np.float64})


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """The SDMetrics QualityReport score: the mean of the column shapes and of the
    column pair trends, and the mean of those two (undefined scores are skipped).

    Parameters
    ----------
    real : DataFrame of shape (n_real, n_columns)
    synthetic : DataFrame of shape (n_synthetic, n_columns)

    Returns
    -------
    scores : dict
        ``{"column_shapes": float, "column_pair_trends": float, "overall": float}``,
        each in [0, 1]; ``column_pair_trends`` is NaN for a single-column table.
    """
    shapes = float(column_shapes(real, synthetic).mean())
    pairs = float(column_pair_trends(real, synthetic)["score"].mean())
    overall = float(pd.Series([shapes, pairs]).mean())
    return {"column_shapes": shapes, "column_pair_trends": pairs, "overall": overall}


# -- utility --------------------------------------------------------------------------------
def _check_param(owner: str, name: str, value: Any, constraint: Interval | Options) -> None:
    if not constraint.is_satisfied_by(value):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {constraint}. Got {value!r} instead."
        )


def _is_classification(target: pd.Series) -> bool:
    return not is_numeric(target) or target.nunique() <= MAX_CLASSES


def _target_values(target: pd.Series) -> np.ndarray:
    """Labels of a target column: float64 when numeric, else str (object array)."""
    return _numeric_values(target) if is_numeric(target) else _label_values(target)


def _model_inputs(
    model: str, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature frames for ``model``: numerics as float64; categoricals as str labels
    (``"logreg"``) or as pandas categories fixed by the train frame (``"hgb"``), so a
    value unseen in training becomes missing."""
    X_train, X_test = {}, {}
    for column in train.columns:
        numeric = is_numeric(train[column])
        convert = _numeric_values if numeric else _label_values
        X_train[column], X_test[column] = convert(train[column]), convert(test[column])
        if model == "hgb" and not numeric:
            seen = X_train[column]
            categories = pd.Index(sorted(set(seen[pd.notna(seen)])))
            for X in (X_train, X_test):  # code -1 (missing) for NaN and for unseen values
                codes = categories.get_indexer(X[column])
                X[column] = pd.Categorical.from_codes(codes, categories=categories)
    return pd.DataFrame(X_train), pd.DataFrame(X_test)


def _positions(columns: list[Any], numeric: list[Any]) -> tuple[list[int], list[int]]:
    """Positions of the numeric and of the other columns: a ColumnTransformer reads
    integer column labels as positions, so it is given positions only."""
    chosen = set(numeric)
    numeric_at = [i for i, c in enumerate(columns) if c in chosen]
    return numeric_at, [i for i, c in enumerate(columns) if c not in chosen]


def _make_estimator(
    model: str, task: str, numeric: list[int], categorical: list[int], random_state: Any
) -> Any:
    """An unfitted scikit-learn estimator for ``task`` ("classification" or "regression");
    ``numeric`` and ``categorical`` are column positions."""
    if model == "hgb":
        cls = {"classification": HistGradientBoostingClassifier}.get(
            task, HistGradientBoostingRegressor
        )
        return cls(categorical_features="from_dtype", random_state=random_state)
    prepare = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(StandardScaler(), SimpleImputer(strategy="constant", fill_value=0.0)),
                numeric,
            ),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    linear = LogisticRegression(max_iter=1000) if task == "classification" else Ridge(alpha=1.0)
    return make_pipeline(prepare, linear)


def _roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a boolean ``truth``; NaN when it holds one value only."""
    if truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, score))


def _classification_scores(
    proba: np.ndarray, classes: np.ndarray, y_test: np.ndarray, positive: Any
) -> dict[str, float]:
    """F1 and ROC AUC from predicted probabilities of shape (n_test, n_classes)."""
    if positive is not None:
        p_positive = proba[:, classes == positive].sum(axis=1)  # 0 when never seen in training
        truth = y_test == positive
        f1 = f1_score(truth, p_positive >= 0.5, zero_division=0.0)
        return {"f1": float(f1), "roc_auc": _roc_auc(truth, p_positive)}
    predicted = classes[proba.argmax(axis=1)]
    f1 = f1_score(y_test, predicted, average="macro", zero_division=0.0)
    aucs = [_roc_auc(y_test == c, proba[:, classes == c].sum(axis=1)) for c in np.unique(y_test)]
    return {"f1": float(f1), "roc_auc": float(np.mean(aucs))}


def ml_utility(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: Any,
    *,
    positive: Any = None,
    model: str = "hgb",
    random_state: Any = 0,
) -> dict[str, float]:
    """Train a model on ``train`` to predict ``target``, and score it on ``test``.

    With synthetic rows as ``train`` and real held-out rows as ``test`` this is
    "train on synthetic, test on real" (TSTR); with the real train split as
    ``train`` it is the real-data ceiling (TRTR). Rows whose target is missing are
    left out of both.

    Parameters
    ----------
    train : DataFrame of shape (n_train, n_columns)
        The rows to learn from (synthetic or real).
    test : DataFrame of shape (n_test, n_columns)
        Real rows to evaluate on; the same columns as ``train``.
    target : column label
        A categorical target, or a numeric one with at most 20 distinct values in
        ``test``, is a classification target; any other numeric target a regression one.
    positive : label or None, default=None
        The positive class of a classification target: F1 and ROC AUC are those of
        "``positive`` against the rest", predicting ``positive`` where its probability
        is at least 0.5. None with two classes takes the larger label (sorted) as
        positive; None with more classes gives the macro F1 of the most probable
        class and the mean one-vs-rest ROC AUC.
    model : {"hgb", "logreg"}, default="hgb"
        ``"hgb"``: scikit-learn's HistGradientBoostingClassifier (or Regressor) with
        default settings, categorical columns given as pandas categories.
        ``"logreg"``: LogisticRegression(max_iter=1000) (Ridge for a numeric target)
        on standardised numerics (missing set to the mean) and one-hot categoricals.
        Categories unseen in ``train`` count as missing (hgb) or as all-zero (logreg).
    random_state : int, RandomState instance or None, default=0
        Seed of the gradient boosting's validation split.

    Returns
    -------
    scores : dict
        ``{"f1": float, "roc_auc": float}`` for a classification target (F1 0 and
        ROC AUC 0.5 when ``train`` holds a single class, as no classifier can be
        trained), ``{"r2": float}`` for a regression target.

    Raises
    ------
    DataValidationError
        When the columns differ, ``target`` is not a column, or ``positive`` is not a
        value of the target in ``test``.
    InvalidParameterError
        When ``model`` is not one of the above.
    """
    _check_param("ml_utility", "model", model, _MODELS)
    if isinstance(test, pd.DataFrame) and target not in test.columns:
        raise DataValidationError(
            f"The target column {target!r} is not in the test data (columns: {list(test.columns)})."
        )
    _check_frames({"test": test, "train": train})
    train, test = train[train[target].notna()], test[test[target].notna()]
    if len(train) == 0 or len(test) == 0:
        raise DataValidationError(f"The target column {target!r} has no values.")
    features = [c for c in test.columns if c != target]
    numeric = [c for c in features if is_numeric(test[c])]
    X_train, X_test = _model_inputs(model, train[features], test[features])
    numeric, categorical = _positions(features, numeric)
    y_train, y_test = _target_values(train[target]), _target_values(test[target])
    if not _is_classification(test[target]):
        estimator = _make_estimator(model, "regression", numeric, categorical, random_state)
        estimator.fit(X_train, y_train)
        return {"r2": float(r2_score(y_test, estimator.predict(X_test)))}
    test_classes = np.unique(y_test)
    if positive is not None:
        positive = float(positive) if is_numeric(test[target]) else str(positive)
        if positive not in set(test_classes):
            raise DataValidationError(
                f"The positive class {positive!r} is not a value of {target!r} in the test "
                f"data (values: {list(test_classes)[:10]})."
            )
    elif len(test_classes) == 2:
        positive = test_classes[-1]
    if len(np.unique(y_train)) < 2:
        return {"f1": 0.0, "roc_auc": 0.5}
    estimator = _make_estimator(model, "classification", numeric, categorical, random_state)
    estimator.fit(X_train, y_train)
    proba = estimator.predict_proba(X_test)
    return _classification_scores(proba, np.asarray(estimator.classes_), y_test, positive)


def detection_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    model: str = "logreg",
    n_folds: int = 3,
    max_rows: int = 10_000,
    random_state: Any = 0,
) -> float:
    """How well a classifier tells synthetic rows from real ones: cross-validated ROC AUC.

    0.5 means indistinguishable (perfect synthetic data), 1.0 means always told
    apart. SDMetrics' LogisticDetection reports ``1 - (2 * max(auc, 0.5) - 1)`` of
    the same quantity.

    Parameters
    ----------
    real : DataFrame of shape (n_real, n_columns)
    synthetic : DataFrame of shape (n_synthetic, n_columns)
    model : {"hgb", "logreg"}, default="logreg"
        The classifier, prepared as in :func:`ml_utility`.
    n_folds : int, default=3
        Stratified folds; every row is scored by a classifier that did not see it.
    max_rows : int, default=10000
        At most this many rows of each frame are used.
    random_state : int, RandomState instance or None, default=0
        Seed of the row subsampling, the folds and the gradient boosting.

    Returns
    -------
    auc : float
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    _check_param("detection_auc", "model", model, _MODELS)
    _check_param("detection_auc", "n_folds", n_folds, Interval(Integral, 2, None, "left"))
    _check_frames({"real": real, "synthetic": synthetic})
    rng = check_random_state(random_state)
    parts = []
    for frame in (real, synthetic[list(real.columns)]):
        if len(frame) > max_rows:
            frame = frame.iloc[rng.choice(len(frame), max_rows, replace=False)]
        parts.append(frame)
    rows = pd.concat(parts, ignore_index=True)
    labels = np.repeat([0, 1], [len(parts[0]), len(parts[1])])
    X, _ = _model_inputs(model, rows, rows)
    numeric, categorical = _positions(
        list(rows.columns), [c for c in rows.columns if is_numeric(rows[c])]
    )
    seed = int(rng.randint(2**31 - 1))
    estimator = _make_estimator(model, "classification", numeric, categorical, seed)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(estimator, X, labels, cv=folds, method="predict_proba")
    return _roc_auc(labels == 1, proba[:, 1])


# -- privacy --------------------------------------------------------------------------------
def _distance_encoding(train: pd.DataFrame, others: list[pd.DataFrame]) -> list[np.ndarray]:
    """Encode ``train`` and each of ``others`` for Euclidean distances: numerics
    standardised with ``train``'s mean and standard deviation (missing -> 0),
    categoricals one-hot over the categories of all frames (missing is a category).
    Returns float64 arrays of shape (n_rows, n_encoded), ``train`` first."""
    frames = [train, *others]
    sizes = np.cumsum([0] + [len(f) for f in frames])
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for column in train.columns:
        if is_numeric(train[column]):
            present = _numeric_values(train[column])
            present = present[~np.isnan(present)]
            mean = present.mean() if present.size else 0.0
            std = present.std() if present.size else 0.0
            for block, frame in zip(blocks, frames, strict=True):
                z = (_numeric_values(frame[column]) - mean) / (std if std > 0 else 1.0)
                block.append(np.where(np.isnan(z), 0.0, z)[:, None])
        else:
            labels = np.concatenate([_label_values(f[column]) for f in frames])
            codes, uniques = pd.factorize(labels, use_na_sentinel=False)
            one_hot = np.zeros((len(codes), len(uniques)))
            one_hot[np.arange(len(codes)), codes] = 1.0
            for i, block in enumerate(blocks):
                block.append(one_hot[sizes[i] : sizes[i + 1]])
    return [np.ascontiguousarray(np.hstack(block)) for block in blocks]


def _exact_copy_rate(rows: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of ``rows`` equal, bit for bit, to some row of ``reference``."""
    seen = {row.tobytes() for row in reference}
    return float(np.mean([row.tobytes() in seen for row in rows]))


def dcr_ratio(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    max_rows: int = 5000,
    random_state: Any = 0,
) -> dict[str, float]:
    """Distance to closest record: do synthetic rows sit closer to the training rows
    than real unseen rows do?

    Rows are encoded with numerics standardised by the train mean and standard
    deviation (a missing value becomes 0, the mean) and categoricals one-hot (missing
    is a category). For up to ``max_rows`` rows drawn from ``synthetic``, and as many
    from ``test``, the Euclidean distance to the nearest ``train`` row is found; the
    ratio of the two medians is about 1 for a model that generalises and near 0 for
    one that copies its training rows.

    Parameters
    ----------
    synthetic : DataFrame of shape (n_synthetic, n_columns)
    train : DataFrame of shape (n_train, n_columns)
        The real rows the model was fitted on.
    test : DataFrame of shape (n_test, n_columns)
        Real rows the model never saw.
    max_rows : int, default=5000
        At most this many synthetic rows, and as many test rows, are measured.
    random_state : int, RandomState instance or None, default=0
        Seed of the row subsampling.

    Returns
    -------
    scores : dict
        ``dcr_synthetic`` and ``dcr_test`` (the two medians), ``ratio``
        (``dcr_synthetic / dcr_test``; inf when only ``dcr_test`` is 0, NaN when both
        are) and ``exact_copy_rate``, the fraction of all synthetic rows identical to
        some train row.

    Raises
    ------
    DataValidationError
        When the three frames' columns differ.
    """
    _check_param("dcr_ratio", "max_rows", max_rows, Interval(Integral, 1, None, "left"))
    _check_frames({"train": train, "synthetic": synthetic, "test": test})
    columns = list(train.columns)
    x_train, x_syn, x_test = _distance_encoding(train, [synthetic[columns], test[columns]])
    rng = check_random_state(random_state)
    neighbours = NearestNeighbors(n_neighbors=1).fit(x_train)

    def median_distance(x: np.ndarray) -> float:
        if len(x) > max_rows:
            x = x[rng.choice(len(x), max_rows, replace=False)]
        return float(np.median(neighbours.kneighbors(x)[0][:, 0]))

    dcr_synthetic, dcr_test = median_distance(x_syn), median_distance(x_test)
    if dcr_test > 0:
        ratio = dcr_synthetic / dcr_test
    else:
        ratio = float("inf") if dcr_synthetic > 0 else float("nan")
    return {
        "dcr_synthetic": dcr_synthetic,
        "dcr_test": dcr_test,
        "ratio": ratio,
        "exact_copy_rate": _exact_copy_rate(x_syn, x_train),
    }


# -- images -------------------------------------------------------------------------------------
def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature vectors.

    ``||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``; 0 for identical sets.

    Parameters
    ----------
    features_a, features_b : array-like of shape (n_samples, n_features)

    Returns
    -------
    distance : float
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataValidationError(
            "frechet_distance expects two 2-D arrays with the same number of columns; got "
            f"shapes {a.shape} and {b.shape}."
        )
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr (C_a C_b)^(1/2) = sum of the square roots of the eigenvalues of the symmetric
    # C_a^(1/2) C_b C_a^(1/2): stable also when the covariances are singular
    w, V = np.linalg.eigh(cov_a)
    root_a = (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T
    inner = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


class ImageFeatures:
    """Features of a small CNN classifier trained on real labelled images.

    Parameters
    ----------
    epochs : int, default=3
    batch_size : int, default=128
    random_state : int or None, default=0

    Attributes
    ----------
    network_ : torch.nn.Module
        Convolutional body, a 128-unit feature layer, and the class logits.
    accuracy_ : float
        Accuracy on the training images (a check that the features mean something).
    """

    def __init__(self, *, epochs: int = 3, batch_size: int = 128, random_state: int | None = 0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    @staticmethod
    def _as_tensor(images: np.ndarray) -> Any:
        import torch

        array = np.asarray(images)
        scale = 255.0 if array.dtype == np.uint8 else 1.0
        x = torch.as_tensor(array, dtype=torch.float32) / scale
        return x[:, None] if x.ndim == 3 else x

    def _build(self, image_shape: tuple[int, ...], n_classes: int, generator: Any) -> None:
        import torch
        from torch import nn

        from .networks import ConvEncoder

        self.image_shape_ = tuple(int(d) for d in image_shape)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(generator.initial_seed()))
            body = ConvEncoder(image_shape)
            self.network_ = nn.Sequential(
                body, nn.Linear(body.n_features, 128), nn.ReLU(), nn.Linear(128, n_classes)
            )

    def fit(self, images: np.ndarray, labels: np.ndarray) -> ImageFeatures:
        """Train on ``images`` (n, H, W) or (n, C, H, W) with integer ``labels`` (n,)."""
        import torch
        from torch import nn

        x = self._as_tensor(images)
        y = torch.as_tensor(np.unique(np.asarray(labels), return_inverse=True)[1])
        generator = torch.Generator().manual_seed(
            int(check_random_state(self.random_state).randint(2**31))
        )
        self._build(tuple(x.shape[1:]), int(y.max()) + 1, generator)
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=1e-3)
        for _ in range(self.epochs):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), self.batch_size):
                index = order[start : start + self.batch_size]
                loss = nn.functional.cross_entropy(self.network_(x[index]), y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.network_.eval()
        with torch.no_grad():
            predicted = torch.cat([self.network_(part).argmax(1) for part in x.split(1024)])
        self.accuracy_ = float((predicted == y).float().mean())
        return self

    def save(self, path: str | PathLike[str]) -> None:
        """Write the fitted network to ``path`` (safetensors; its metadata rebuilds it)."""
        from safetensors.torch import save_file

        shape = self.image_shape_
        metadata = {
            "image_shape": ",".join(map(str, shape)),
            "n_classes": str(self.network_[-1].out_features),
            "accuracy": repr(self.accuracy_),
        }
        state = {k: v.contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ImageFeatures:
        """Read a network written by :meth:`save`."""
        import torch
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        features = cls()
        shape = tuple(int(d) for d in metadata["image_shape"].split(","))
        features._build(shape, int(metadata["n_classes"]), torch.Generator().manual_seed(0))
        features.network_.load_state_dict(load_file(str(path)))
        features.network_.eval()
        features.accuracy_ = float(metadata["accuracy"])
        return features

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Feature vectors, shape (n_samples, 128)."""
        import torch

        with torch.no_grad():
            features = self.network_[:-1]
            parts = [features(part) for part in self._as_tensor(images).split(1024)]
        return torch.cat(parts).double().numpy()


#: bumped whenever the feature network's architecture or training changes
_FEATURES_FORMAT = 1
#: fitted feature networks of this process, by dataset fingerprint
_FEATURES: dict[str, ImageFeatures] = {}


def cached_image_features(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    random_state: int = 0,
    cache_dir: str | PathLike[str] | None = None,
) -> ImageFeatures:
    """An :class:`ImageFeatures` fitted on ``images``, trained once per dataset.

    The network is keyed by a SHA-256 fingerprint of the images, labels and seed, kept
    for the process and written under ``data_home(cache_dir) / "features"`` (see
    :func:`hybridgen.datasets.data_home`), so a second comparison on the same images
    reuses it.

    Parameters
    ----------
    images : ndarray of shape (n_samples, H, W) or (n_samples, C, H, W)
    labels : array-like of shape (n_samples,)
    random_state : int, default=0
    cache_dir : path or None, default=None

    Returns
    -------
    features : ImageFeatures, fitted
    """
    from .datasets import data_home

    images, labels = np.ascontiguousarray(images), np.ascontiguousarray(labels)
    digest = hashlib.sha256()
    for part in (images, labels):
        digest.update(f"{part.dtype}{part.shape}".encode())
        digest.update(part.tobytes())
    features = ImageFeatures(random_state=random_state)
    settings = f"v{_FEATURES_FORMAT};epochs={features.epochs};batch={features.batch_size}"
    digest.update(f"seed={random_state};{settings}".encode())
    key = digest.hexdigest()[:32]
    if key in _FEATURES:
        return _FEATURES[key]
    path = Path(data_home(cache_dir)) / "features" / f"{key}.safetensors"
    loaded = None
    if path.exists():
        try:
            loaded = ImageFeatures.load(path)
            logger.info("image features: read %s", path)
        except Exception as exc:  # a damaged or foreign file: train again and replace it
            logger.warning("image features: cannot read %s (%s); training again", path, exc)
    if loaded is not None:
        features = loaded
    else:
        features.fit(images, labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        features.save(partial)
        partial.replace(path)
        logger.info("image features: accuracy %.3f, cached in %s", features.accuracy_, path)
    _FEATURES[key] = features
    return features


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, *, k: int = 5
) -> dict[str, float]:
    """Fidelity and diversity of samples in a feature space, from k-nearest-neighbour
    balls (precision/recall: Kynkaanniemi et al. 2019; density/coverage: Naeem et al.
    2020).

    Each real point's ball reaches its k-th nearest real neighbour (each fake point's,
    its k-th nearest fake neighbour). Precision: fraction of fakes inside some real
    ball. Recall: fraction of reals inside some fake ball. Density: mean number of real
    balls holding a fake, divided by k (about 1 for matching distributions, above 1
    when fakes crowd the modes). Coverage: fraction of real balls holding a fake.

    Parameters
    ----------
    real : array-like of shape (n_real, n_features)
    fake : array-like of shape (n_fake, n_features)
    k : int, default=5

    Returns
    -------
    scores : dict with keys "precision", "recall", "density", "coverage"
    """
    _check_param("precision_recall_density_coverage", "k", k, Interval(Integral, 1, None, "left"))
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if min(len(real), len(fake)) <= k:
        raise DataValidationError(
            f"precision_recall_density_coverage needs more than k={k} rows in each set; got "
            f"{len(real)} real and {len(fake)} fake."
        )

    def radii(x: np.ndarray) -> np.ndarray:  # distance to the k-th neighbour, self excluded
        return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[0][:, -1]

    real_radii, fake_radii = radii(real), radii(fake)
    distances = np.sqrt(
        np.maximum((fake**2).sum(1)[:, None] + (real**2).sum(1)[None] - 2.0 * fake @ real.T, 0.0)
    )  # (n_fake, n_real)
    inside_real = distances <= real_radii[None]
    inside_fake = distances <= fake_radii[:, None]
    return {
        "precision": float(inside_real.any(1).mean()),
        "recall": float(inside_fake.any(0).mean()),
        "density": float(inside_real.sum(1).mean() / k),
        "coverage": float(inside_real.any(0).mean()),
    }

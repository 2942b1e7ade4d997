"""Fit several generative models on one split, time them, measure their samples.

:func:`compare` is the one call: every estimator is cloned, seeded with the same
``random_state``, fitted on the same training rows, timed, asked for the same number
of synthetic rows, and measured with :mod:`hybridgen.metrics` against the real rows.
It returns a tidy DataFrame, one row per estimator and metric, and can write a report
(:func:`hybridgen.report.write_report`).

Anything with ``fit(X)`` and ``sample(n_samples)`` takes part; ``score(X)`` adds the
held-out log-likelihood. :data:`MODELS` names hybridgen's estimators and the adapters
of :mod:`hybridgen.adapters` (scikit-learn's GaussianMixture, the SDV project's
CTGAN and TVAE) for the command line.

What is measured (see :data:`METRICS` for each metric's group and direction):

tables and 2-D arrays
    fit and sample seconds; held-out mean log-likelihood per row (nats); the
    SDMetrics quality scores (column shapes, column pair trends, overall) of the
    synthetic rows against the training rows; detection ROC AUC (0.5 is best);
    the DCR ratio and exact-copy rate; with a ``target`` column, train-on-synthetic,
    test-on-real utility (F1 and ROC AUC, or R2) of HistGradientBoosting and
    logistic regression.
images
    fit and sample seconds; held-out log-likelihood (nats per image; bits/dim for
    uint8 images, whose likelihood is a probability per pixel level); with
    class ``labels``, the Frechet distance, precision, recall, density and coverage
    in the feature space of a small CNN trained on the real training images.

The row ``"real data"`` is the ceiling: for tables, the measures of the real held-out
rows in place of synthetic ones (utility learnt from the real training rows); for
images, the feature-space measures of the real training images against the held-out
ones.

Every estimator is cloned and given ``random_state`` (the estimator's own
``random_state`` is replaced, so that all of them start from the same seed).
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from . import metrics
from ._validation import Interval
from .adapters import CTGANSynthesizer, SklearnGaussianMixture, TVAESynthesizer
from .base import bits_per_dim
from .exceptions import DataValidationError, HybridgenError, InvalidParameterError
from .gmm import GaussianMixture
from .vae import VAE
from .vaegan import VAEGAN

__all__ = [
    "METRICS",
    "MODELS",
    "Comparison",
    "compare",
    "make_model",
    "run_comparison",
    "score_table",
]

logger = logging.getLogger(__name__)

#: the models the command line knows, by name
MODELS: dict[str, type] = {
    "gmm": GaussianMixture,
    "vae": VAE,
    "vaegan": VAEGAN,
    "sklearn-gmm": SklearnGaussianMixture,
    "tvae": TVAESynthesizer,
    "ctgan": CTGANSynthesizer,
}

#: every metric: (group, what is best)
METRICS: dict[str, tuple[str, str]] = {
    "fit_seconds": ("time", "lower"),
    "sample_seconds": ("time", "lower"),
    "log_likelihood": ("likelihood", "higher"),
    "bits_per_dim": ("likelihood", "lower"),
    "column_shapes": ("fidelity", "higher"),
    "column_pair_trends": ("fidelity", "higher"),
    "overall_quality": ("fidelity", "higher"),
    "detection_auc": ("fidelity", "0.5"),
    "dcr_ratio": ("privacy", "1 or more"),
    "exact_copy_rate": ("privacy", "lower"),
    "hgb_f1": ("utility", "higher"),
    "hgb_roc_auc": ("utility", "higher"),
    "hgb_r2": ("utility", "higher"),
    "logreg_f1": ("utility", "higher"),
    "logreg_roc_auc": ("utility", "higher"),
    "logreg_r2": ("utility", "higher"),
    "frechet_distance": ("images", "lower"),
    "precision": ("images", "higher"),
    "recall": ("images", "higher"),
    "density": ("images", "1"),
    "coverage": ("images", "higher"),
}

REAL = "real data"
#: at most this many images are passed through the feature network per set
MAX_FEATURE_IMAGES = 2000


def make_model(name: str, **params: Any) -> Any:
    """An unfitted model from :data:`MODELS` by name.

    Parameters
    ----------
    name : {"gmm", "vae", "vaegan", "sklearn-gmm", "tvae", "ctgan"}
    **params
        Constructor arguments.

    Returns
    -------
    estimator : an unfitted estimator

    Raises
    ------
    InvalidParameterError
        For an unknown name or a parameter the model does not have.
    """
    if name not in MODELS:
        raise InvalidParameterError(f"Unknown model {name!r}; expected one of {', '.join(MODELS)}.")
    cls = MODELS[name]
    known = cls().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidParameterError(
            f"{cls.__name__} has no parameter {unknown[0]!r}; its parameters are "
            f"{', '.join(sorted(known))}."
        )
    return cls(**params)


@dataclass
class Comparison:
    """Everything a comparison produced, for the report.

    Attributes
    ----------
    kind : {"table", "array", "image"}
    train, test : the real training and held-out data (DataFrames for tables and arrays)
    synthetic : dict of estimator name -> its samples (DataFrames for tables and arrays)
    scores : DataFrame
        The tidy result of :func:`compare`: ``estimator``, ``metric``, ``value``,
        ``group``, ``best``.
    histories : dict of estimator name -> list of per-epoch dicts (neural models)
    descriptions : dict of estimator name -> the estimator's repr
    errors : dict of estimator name -> why it has no scores (a fit that failed)
    target : the utility target column, or None
    random_state : the seed every estimator got
    """

    kind: str
    train: Any
    test: Any
    synthetic: dict[str, Any] = field(default_factory=dict)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    histories: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    target: Any = None
    random_state: int = 0


def compare(
    estimators: Mapping[str, Any] | Sequence[Any],
    data: Any,
    *,
    test_data: Any = None,
    test_size: float = 0.25,
    target: Any = None,
    labels: Any = None,
    n_samples: int | None = None,
    random_state: int = 0,
    report: str | PathLike[str] | None = None,
    verbose: bool = False,
) -> pd.DataFrame:
    """Fit each estimator on the same split with the same seed and measure it.

    Parameters
    ----------
    estimators : dict of name -> estimator, or list of estimators
        Unfitted estimators with ``fit(X)`` and ``sample(n_samples)`` (``score(X)``
        optional). They are cloned (deep-copied when scikit-learn cannot clone them),
        never changed. A list is named by class names. An estimator whose fit, sample
        or measures fail is left out of the scores; the reason is kept in the report.
    data : DataFrame, array-like of shape (n_samples, n_features), or images of shape
        (n_samples, H, W) or (n_samples, C, H, W)
        The real data; split into train and test unless ``test_data`` is given.
    test_data : same kind as ``data``, default=None
        Real held-out rows; ``data`` is then all training data.
    test_size : float in (0, 1), default=0.25
        The held-out fraction when ``test_data`` is None.
    target : column label, default=None
        A column of a table to measure train-on-synthetic, test-on-real utility on.
    labels : array-like of shape (n_samples,), default=None
        Class labels of the images in ``data`` (the training images when
        ``test_data`` is given): the feature network for the image metrics learns them.
    n_samples : int, default=None
        Synthetic rows per estimator; default the number of training rows.
    random_state : int, default=0
        The seed of the split, of every estimator (it replaces their own
        ``random_state``) and of every metric.
    report : path, default=None
        When given, the folder to write a Markdown and an HTML report into.
    verbose : bool, default=False
        Show a progress bar over the estimators.

    Returns
    -------
    scores : DataFrame of shape (n_rows, 5)
        Columns ``estimator``, ``metric``, ``value``, ``group`` and ``best`` (what a
        better value is: "higher", "lower", or a target such as "0.5"); one row per
        estimator and metric, including the ``"real data"`` ceiling.

    Examples
    --------
    >>> from hybridgen import GaussianMixture
    >>> from hybridgen.compare import compare
    >>> from hybridgen.datasets import make_mixed_table
    >>> table = make_mixed_table(400, random_state=0)
    >>> scores = compare({"gmm": GaussianMixture(n_components=2)}, table, target="member")
    >>> scores.pivot(index="metric", columns="estimator", values="value").shape[1]
    2
    """
    comparison = run_comparison(
        estimators,
        data,
        test_data=test_data,
        test_size=test_size,
        target=target,
        labels=labels,
        n_samples=n_samples,
        random_state=random_state,
        verbose=verbose,
    )
    if report is not None:
        from .report import write_report

        write_report(comparison, report)
    return comparison.scores


def run_comparison(
    estimators: Mapping[str, Any] | Sequence[Any],
    data: Any,
    *,
    test_data: Any = None,
    test_size: float = 0.25,
    target: Any = None,
    labels: Any = None,
    n_samples: int | None = None,
    random_state: int = 0,
    verbose: bool = False,
) -> Comparison:
    """:func:`compare`, returning everything it produced (a :class:`Comparison`)."""
    named = _named_estimators(estimators)
    _check_params(test_size, n_samples, random_state)
    kind = _data_kind(data)
    train, test, labels = _split(data, test_data, labels, test_size, random_state)
    if target is not None and kind != "table":
        raise InvalidParameterError(
            f"The 'target' parameter of compare needs a DataFrame; got {kind} data."
        )
    if target is not None and target not in train.columns:
        raise DataValidationError(
            f"The target column {target!r} is not in the data (columns: {list(train.columns)})."
        )
    n_samples = len(train) if n_samples is None else int(n_samples)
    comparison = Comparison(
        kind=kind,
        train=_as_frame(train, kind),
        test=_as_frame(test, kind),
        target=target,
        random_state=random_state,
    )
    measure = _ImageMeasures(train, labels, test, random_state) if kind == "image" else None
    records = _reference_records(comparison, measure)
    for name, estimator in tqdm(named.items(), desc="compare", disable=not verbose):
        records += _run_one(comparison, name, estimator, train, test, n_samples, measure)
    scores = pd.DataFrame(records, columns=["estimator", "metric", "value"])
    scores["group"] = scores["metric"].map(lambda m: METRICS[m][0])
    scores["best"] = scores["metric"].map(lambda m: METRICS[m][1])
    comparison.scores = scores
    return comparison


def score_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The tidy scores of :func:`compare` laid out for reading.

    Parameters
    ----------
    scores : DataFrame
        As returned by :func:`compare`.

    Returns
    -------
    table : DataFrame of shape (n_metrics, 1 + n_estimators)
        One row per metric (in the order measured), a ``best`` column, then one column
        per estimator in the order given, the ``"real data"`` ceiling last; a metric an
        estimator has no value for is NaN.
    """
    metrics = list(dict.fromkeys(scores["metric"]))
    estimators = [e for e in dict.fromkeys(scores["estimator"]) if e != REAL]
    estimators += [REAL] if REAL in set(scores["estimator"]) else []
    table = scores.pivot(index="metric", columns="estimator", values="value")
    table = table.reindex(index=metrics, columns=estimators)
    best = scores.drop_duplicates("metric").set_index("metric")["best"]
    table.insert(0, "best", best.reindex(metrics))
    table.columns.name = None
    return table


# -- set-up --------------------------------------------------------------------------------------
def _named_estimators(estimators: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(estimators, Mapping):
        named = {str(k): v for k, v in estimators.items()}
    else:
        named = {}
        for estimator in estimators:
            base = type(estimator).__name__
            name, i = base, 2
            while name in named:
                name, i = f"{base}-{i}", i + 1
            named[name] = estimator
    if not named:
        raise InvalidParameterError("compare needs at least one estimator; got none.")
    if REAL in named:
        raise InvalidParameterError(f"{REAL!r} is reserved for the real-data row; rename it.")
    for name, estimator in named.items():
        if not (hasattr(estimator, "fit") and hasattr(estimator, "sample")):
            raise InvalidParameterError(
                f"The estimator {name!r} must have fit and sample methods; got "
                f"{type(estimator).__name__}."
            )
    return named


def _check_params(test_size: Any, n_samples: Any, random_state: Any) -> None:
    checks = {
        "test_size": (test_size, Interval(Real, 0, 1, "neither")),
        "n_samples": (n_samples, Interval(Integral, 2, None, "left")),
        "random_state": (random_state, Interval(Integral, 0, 2**32 - 1, "both")),
    }
    for name, (value, interval) in checks.items():
        if not (value is None and name == "n_samples") and not interval.is_satisfied_by(value):
            raise InvalidParameterError(
                f"The {name!r} parameter of compare must be {interval}. Got {value!r} instead."
            )


def _data_kind(data: Any) -> str:
    if isinstance(data, pd.DataFrame):
        return "table"
    ndim = np.ndim(data)
    if ndim in (3, 4):
        return "image"
    if ndim == 2:
        return "array"
    raise DataValidationError(
        "compare needs a DataFrame, a 2-D array, or images of shape (n, H, W) or "
        f"(n, C, H, W); got {type(data).__name__} with {ndim} dimension(s)."
    )


def _take(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, pd.DataFrame):
        return data.iloc[index].reset_index(drop=True)
    return np.asarray(data)[index]


def _split(
    data: Any, test_data: Any, labels: Any, test_size: float, random_state: int
) -> tuple[Any, Any, np.ndarray | None]:
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(data):
            raise DataValidationError(
                f"labels has {len(labels)} entries but the data has {len(data)} rows."
            )
    if test_data is not None:
        if _data_kind(test_data) != _data_kind(data):
            raise DataValidationError(
                f"test_data must be of the same kind as data ({_data_kind(data)}); got "
                f"{_data_kind(test_data)}."
            )
        return data, test_data, labels
    order = check_random_state(random_state).permutation(len(data))
    n_test = int(math.ceil(test_size * len(data)))
    if n_test >= len(data) or len(data) < 4:
        raise DataValidationError(
            f"compare needs at least one training and one test row; {len(data)} rows with "
            f"test_size={test_size} leave none to train on."
        )
    test_index, train_index = np.sort(order[:n_test]), np.sort(order[n_test:])
    train_labels = None if labels is None else labels[train_index]
    return _take(data, train_index), _take(data, test_index), train_labels


def _as_frame(data: Any, kind: str) -> Any:
    """Tables stay; arrays become DataFrames with columns x0, x1, ... for the metrics."""
    if kind != "array":
        return data
    array = np.asarray(data, dtype=np.float64)
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


# -- one estimator -------------------------------------------------------------------------------
def _seeded(estimator: Any, random_state: int) -> Any:
    try:
        model = clone(estimator)
    except TypeError:  # not a scikit-learn estimator: a deep copy, so the caller's is untouched
        model = copy.deepcopy(estimator)
    if hasattr(model, "get_params") and "random_state" in model.get_params():
        model.set_params(random_state=random_state)
    return model


def _draw(model: Any, n_samples: int, random_state: int) -> Any:
    if "random_state" in inspect.signature(model.sample).parameters:
        drawn = model.sample(n_samples, random_state=random_state)
    else:
        drawn = model.sample(n_samples)
    return drawn[0] if isinstance(drawn, tuple) else drawn  # scikit-learn returns (X, y)


def _check_sample(name: str, drawn: Any, train: Any, kind: str) -> None:
    if kind == "table":
        ok = isinstance(drawn, pd.DataFrame) and list(drawn.columns) == list(train.columns)
        expected = f"a DataFrame with columns {list(train.columns)}"
    else:
        ok = isinstance(drawn, np.ndarray) and drawn.shape[1:] == np.shape(train)[1:]
        expected = f"an array of rows of shape {np.shape(train)[1:]}"
    if not ok:
        got = type(drawn).__name__ + (
            f" of shape {np.shape(drawn)}" if hasattr(drawn, "shape") else ""
        )
        raise DataValidationError(f"{name}.sample must return {expected}; got {got}.")


def _run_one(
    comparison: Comparison,
    name: str,
    estimator: Any,
    train: Any,
    test: Any,
    n_samples: int,
    measure: _ImageMeasures | None,
) -> list[tuple[str, str, float]]:
    model = _seeded(estimator, comparison.random_state)
    comparison.descriptions[name] = repr(model)
    logger.info("compare: fitting %s", name)
    try:
        scores = _fit_and_measure(comparison, name, model, train, test, n_samples, measure)
    except Exception as exc:  # one model's failure is a result; the others go on
        logger.warning("compare: %s failed: %s: %s", name, type(exc).__name__, exc)
        comparison.errors[name] = f"{type(exc).__name__}: {exc}"
        comparison.synthetic.pop(name, None)
        return []
    return [(name, metric, float(value)) for metric, value in scores.items()]


def _fit_and_measure(
    comparison: Comparison,
    name: str,
    model: Any,
    train: Any,
    test: Any,
    n_samples: int,
    measure: _ImageMeasures | None,
) -> dict[str, float]:
    start = time.perf_counter()
    model.fit(train)
    fitted = time.perf_counter()
    drawn = _draw(model, n_samples, comparison.random_state)
    sampled = time.perf_counter()
    _check_sample(name, drawn, train, comparison.kind)
    scores = {"fit_seconds": fitted - start, "sample_seconds": sampled - fitted}
    scores.update(_likelihood(model, test, comparison.kind))
    synthetic = _as_frame(drawn, comparison.kind)
    comparison.synthetic[name] = synthetic
    if measure is not None:
        scores.update(measure(drawn))
    else:
        scores.update(_table_scores(comparison, synthetic))
    history = getattr(model, "history_", None)
    if history:
        comparison.histories[name] = list(history)
    return scores


def _likelihood(model: Any, test: Any, kind: str) -> dict[str, float]:
    if not hasattr(model, "score"):
        return {}
    try:
        value = float(model.score(test))
    except NotImplementedError as exc:
        logger.info("compare: no likelihood from %s: %s", type(model).__name__, exc)
        return {}
    scores = {"log_likelihood": value}
    if kind == "image" and np.asarray(test).dtype == np.uint8:  # a probability per level
        scores["bits_per_dim"] = float(bits_per_dim(value, int(np.prod(np.shape(test)[1:]))))
    return scores


# -- measures ------------------------------------------------------------------------------------
def _table_scores(
    comparison: Comparison, rows: pd.DataFrame, *, real: bool = False
) -> dict[str, float]:
    """Fidelity, detection, privacy and utility of synthetic ``rows``; with ``real``, of
    the real test rows (fidelity and detection against train, utility learnt from train)."""
    train, test, seed = comparison.train, comparison.test, comparison.random_state
    quality = metrics.quality_score(train, rows)
    scores = {
        "column_shapes": quality["column_shapes"],
        "column_pair_trends": quality["column_pair_trends"],
        "overall_quality": quality["overall"],
        "detection_auc": metrics.detection_auc(train, rows, random_state=seed),
    }
    if not real:
        privacy = metrics.dcr_ratio(rows, train, test, random_state=seed)
        scores.update(dcr_ratio=privacy["ratio"], exact_copy_rate=privacy["exact_copy_rate"])
    if comparison.target is not None:
        for model in ("hgb", "logreg"):
            try:
                found = metrics.ml_utility(
                    train if real else rows,
                    test,
                    comparison.target,
                    model=model,
                    random_state=seed,
                )
            except (HybridgenError, ValueError) as exc:  # e.g. synthetic labels not classes
                logger.warning("compare: no %s utility: %s", model, exc)
                continue
            scores.update({f"{model}_{key}": value for key, value in found.items()})
    return scores


class _ImageMeasures:
    """Image metrics in the feature space of a CNN trained once on the real training images."""

    def __init__(self, train: Any, labels: np.ndarray | None, test: Any, random_state: int):
        self.random_state = random_state
        self.features = None
        if labels is None:
            logger.warning(
                "compare: no image labels, so no feature-space metrics (pass labels=...)."
            )
            return
        self.features = metrics.cached_image_features(train, labels, random_state=random_state)
        self.real = self.features.transform(self._subset(np.asarray(test)))

    def _subset(self, images: np.ndarray) -> np.ndarray:
        if len(images) <= MAX_FEATURE_IMAGES:
            return images
        rng = np.random.RandomState(self.random_state)  # the same draw for every model
        return images[rng.choice(len(images), MAX_FEATURE_IMAGES, replace=False)]

    def __call__(self, images: np.ndarray) -> dict[str, float]:
        if self.features is None:
            return {}
        fake = self.features.transform(self._subset(np.asarray(images)))
        scores = {"frechet_distance": metrics.frechet_distance(self.real, fake)}
        scores.update(metrics.precision_recall_density_coverage(self.real, fake))
        return scores


def _reference_records(
    comparison: Comparison, measure: _ImageMeasures | None
) -> list[tuple[str, str, float]]:
    """The real-data row: the measures of real training rows (images) or real test rows."""
    if measure is not None:
        scores = measure(comparison.train)
    else:
        scores = _table_scores(comparison, comparison.test, real=True)
    return [(REAL, metric, float(value)) for metric, value in scores.items()]

"""Columns of user tables: what is inferred about them at fit time (:class:`ColumnSpec`),
the encoded layout (:class:`Span`), reading and checking user data, restoring dtypes."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from . import _serialization
from .exceptions import (
    DataValidationError,
    HybridgenError,
    NotFittedError,
    UnseenCategoryWarning,
)

KINDS = ("float", "integer", "boolean", "categorical")
NUMERIC_KINDS = ("float", "integer")
_MAX_SHOWN = 5


# ---------------------------------------------------------------------------------------
# Published description of the data and of its encoding
# ---------------------------------------------------------------------------------------
@_serialization.register
@dataclass(frozen=True)
class ColumnSpec:
    """What was inferred about one input column at fit time.

    Attributes
    ----------
    name : hashable
        The column label (for arrays, the position 0..d-1).
    kind : {"float", "integer", "boolean", "categorical"}
    dtype : str
        ``str()`` of the original dtype, used to restore it.
    categories : tuple
        Categorical and boolean columns: the values a one-hot slot stands for (python
        scalars), in slot order.
    ordered : bool
        Whether the original pandas Categorical was ordered.
    has_missing, missing_rate : bool, float
        Whether (and how often) the column had missing values at fit time.
    minimum, maximum : float or None
        Numeric columns: the observed range (integers are clipped to it on decoding).
    """

    name: Hashable
    kind: str
    dtype: str
    categories: tuple = ()
    ordered: bool = False
    has_missing: bool = False
    missing_rate: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@_serialization.register
@dataclass(frozen=True)
class Span:
    """One contiguous block ``[start, start + width)`` of the encoded row.

    Attributes
    ----------
    column : hashable
        The :attr:`ColumnSpec.name` it encodes (``"pixels"`` for images).
    kind : {"continuous", "mode", "categorical", "missing", "pixel"}
    width : int
    activation : {"linear", "tanh", "softmax", "sigmoid"}
        The output activation a decoder network should use for this block.
    start : int
    """

    column: Hashable
    kind: str
    width: int
    activation: str
    start: int

    @property
    def stop(self) -> int:
        return self.start + self.width


# ---------------------------------------------------------------------------------------
# Reading user data
# ---------------------------------------------------------------------------------------
def _check_not_empty(shape: tuple[int, ...]) -> None:
    if shape[0] < 1:
        raise DataValidationError(
            f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 is required."
        )
    if len(shape) > 1 and min(shape[1:]) < 1:
        raise DataValidationError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required."
        )


def _not_2d_message(array: np.ndarray) -> str:
    got = "a scalar" if array.ndim == 0 else f"a {array.ndim}-D array of shape {array.shape}"
    hint = (
        " Images must be a numpy array of shape (n_samples, H, W) or (n_samples, C, H, W)."
        if array.ndim > 2
        else ""
    )
    return (
        f"Expected a 2-D array of shape (n_samples, n_features), got {got} instead. "
        "Reshape your data either using array.reshape(-1, 1) if your data has a single "
        f"feature or array.reshape(1, -1) if it contains a single sample.{hint}"
    )


def _as_float_matrix(X: Any) -> np.ndarray:
    """A 2-D float64 view or copy of ``X`` (never written to)."""
    if sparse.issparse(X):
        raise DataValidationError(
            "Sparse data is not supported; pass a dense array (for example X.toarray())."
        )
    if isinstance(X, pd.DataFrame):
        _check_not_empty(X.shape)
        try:
            return X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataValidationError(f"X must hold numbers only; got {exc}") from exc
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"X cannot be read as a 2-D array: {exc}") from exc
    if array.dtype.kind == "c":
        raise DataValidationError("Complex data not supported; got an array of dtype complex.")
    if array.ndim != 2:
        raise DataValidationError(_not_2d_message(array))
    _check_not_empty(array.shape)
    try:
        return array.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"X must hold numbers (use a DataFrame for categorical columns); converting it "
            f"to float64 failed: {exc}"
        ) from exc


def _str_feature_names(X: Any) -> np.ndarray | None:
    """The column labels of a DataFrame whose labels are all str (scikit-learn's rule)."""
    if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
        return None
    if all(isinstance(name, str) for name in X.columns):
        return np.asarray(list(X.columns), dtype=object)
    return None


def _name_list(names: Sequence[Hashable]) -> str:
    try:
        names = sorted(names)  # type: ignore[type-var]
    except TypeError:
        names = sorted(names, key=str)
    shown = "".join(f"- {name}\n" for name in names[:_MAX_SHOWN])
    return shown + ("- ...\n" if len(names) > _MAX_SHOWN else "")


def _check_feature_names(got: Sequence[Hashable], fitted: Sequence[Hashable]) -> None:
    """scikit-learn's check of a DataFrame's columns against those seen in fit."""
    if list(got) == list(fitted):
        return
    message = "The feature names should match those that were passed during fit.\n"
    unexpected = [name for name in got if name not in set(fitted)]
    missing = [name for name in fitted if name not in set(got)]
    if unexpected:
        message += "Feature names unseen at fit time:\n" + _name_list(unexpected)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + _name_list(missing)
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise DataValidationError(message)


def _isna(column: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(column, np.ndarray):
        return np.isnan(column)
    return column.isna().to_numpy()


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _object_kind(name: Hashable, column: pd.Series) -> str:
    """Kind of an object column from the types of its observed values."""
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred == "string":
        return "categorical"
    if inferred in ("integer", "floating", "mixed-integer-float"):
        return "float"
    if inferred == "boolean":
        return "boolean"
    types = sorted({type(value).__name__ for value in column.dropna()})
    raise DataValidationError(
        f"Column {name!r} mixes values of types {types}; expected one kind per column (all "
        "str for a categorical column, all real numbers for a numeric one). Convert it, "
        f"for example with df[{name!r}].astype(str)."
    )


def _natural_kind(name: Hashable, column: pd.Series | np.ndarray) -> str:
    """Kind of a column from its dtype (and, for object columns, its values)."""
    if isinstance(column, np.ndarray):
        return "float"
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_complex_dtype(dtype):
        raise DataValidationError(f"Complex data not supported (column {name!r}).")
    if isinstance(dtype, pd.StringDtype):
        return "categorical"
    if pd.api.types.is_object_dtype(dtype):
        return _object_kind(name, column)
    raise DataValidationError(
        f"Column {name!r} has dtype {dtype}, which hybridgen cannot model; expected a "
        "float, integer, boolean, categorical or string column. Convert it first (for "
        "example datetimes to numbers)."
    )


def _numeric_values(name: Hashable, column: pd.Series | np.ndarray) -> np.ndarray:
    """The column as float64 with NaN for missing cells; error when it is not numbers."""
    if isinstance(column, np.ndarray):
        values = column
    else:
        series = column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column
        try:
            values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataValidationError(
                f"Column {name!r} must hold numbers; got dtype {column.dtype} with values "
                f"that cannot be read as numbers ({exc})."
            ) from exc
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        raise DataValidationError(
            f"Column {name!r} contains {n_inf} infinite value(s) (inf or -inf); expected "
            "finite numbers, with NaN for a missing value."
        )
    return values


def _categories(
    name: Hashable, column: pd.Series | np.ndarray, missing: np.ndarray, kind: str
) -> tuple[tuple, bool]:
    """Slot values of a categorical/boolean column, and whether they are ordered."""
    if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
        categories = [_scalar(v) for v in column.cat.categories]
        ordered = bool(column.cat.ordered)
    else:
        categories = [_scalar(v) for v in pd.unique(column[~missing])]
        ordered = False
        try:
            categories = sorted(categories)
        except TypeError:
            pass  # unsortable values keep their order of first appearance
    wrong = sorted({type(v).__name__ for v in categories if not isinstance(v, str | int | float)})
    if wrong:
        raise DataValidationError(
            f"Column {name!r} holds values of type {wrong}; expected str, int, float or bool."
        )
    if kind == "boolean" and not set(categories) <= {False, True}:
        raise DataValidationError(
            f"Column {name!r} is declared 'boolean' but holds values other than True/False "
            f"(for example {categories[:_MAX_SHOWN]})."
        )
    return tuple(categories), ordered


def _category_codes(column: pd.Series | np.ndarray, spec: ColumnSpec) -> np.ndarray:
    """Slot of each value; the missing slot for missing values when the column had any,
    -1 for values (and missing values) not seen at fit time."""
    codes = pd.Index(list(spec.categories), dtype=object).get_indexer(column)
    if spec.has_missing:
        codes[_isna(column)] = len(spec.categories)
    return codes


def _warn_unseen(
    column: pd.Series | np.ndarray, spec: ColumnSpec, unseen: np.ndarray, owner: str
) -> None:
    values = np.asarray(column, dtype=object)[unseen]
    missing = pd.isna(values)
    shown = [repr(_scalar(v)) for v in pd.unique(values[~missing])[:_MAX_SHOWN]]
    if missing.any():
        shown = (shown + ["missing"])[:_MAX_SHOWN]
    warnings.warn(
        f"{owner}: column {spec.name!r} has {int(unseen.sum())} value(s) not seen at fit "
        f"time ({', '.join(shown)}); they are encoded as an all-zero one-hot, which models "
        "score as impossible.",
        UnseenCategoryWarning,
        stacklevel=3,
    )


# ---------------------------------------------------------------------------------------
# Restoring user data
# ---------------------------------------------------------------------------------------
def _is_integer_dtype(dtype: str) -> bool:
    try:
        return pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(dtype))
    except TypeError:
        return False


def _restore_numeric(spec: ColumnSpec, values: np.ndarray) -> pd.Series:
    if spec.kind == "integer" or _is_integer_dtype(spec.dtype):
        values = np.rint(np.clip(values, spec.minimum, spec.maximum))
    return pd.Series(values).astype(spec.dtype)


def _restore_categorical(spec: ColumnSpec, codes: np.ndarray) -> pd.Series:
    """Values of the slots ``codes`` (-1: missing) in the column's original dtype."""
    if spec.dtype == "category":
        return pd.Series(
            pd.Categorical.from_codes(codes, categories=list(spec.categories), ordered=spec.ordered)
        )
    slots = np.empty(len(spec.categories) + 1, dtype=object)
    slots[:-1] = spec.categories
    slots[-1] = None
    return pd.Series(slots[codes], dtype=spec.dtype)


def _span_index(layout: Sequence[Span]) -> dict[Hashable, dict[str, Span]]:
    """``{column: {span kind: span}}``."""
    index: dict[Hashable, dict[str, Span]] = {}
    for span in layout:
        index.setdefault(span.column, {})[span.kind] = span
    return index


def _build_layout(
    specs: Sequence[ColumnSpec], numeric: str, params: Mapping[Hashable, Mapping[str, np.ndarray]]
) -> tuple[Span, ...]:
    blocks: list[tuple[Hashable, str, int, str]] = []
    for spec in specs:
        if not spec.is_numeric:
            width = len(spec.categories) + int(spec.has_missing)
            blocks.append((spec.name, "categorical", width, "softmax"))
            continue
        if numeric == "mode":
            blocks.append((spec.name, "continuous", 1, "tanh"))
            blocks.append((spec.name, "mode", len(params[spec.name]["weights"]), "softmax"))
        else:
            blocks.append((spec.name, "continuous", 1, "linear"))
        if spec.has_missing:
            blocks.append((spec.name, "missing", 1, "sigmoid"))
    starts = np.cumsum([0] + [width for _, _, width, _ in blocks])
    return tuple(Span(c, k, w, a, int(s)) for (c, k, w, a), s in zip(blocks, starts, strict=False))


def _check_encoded(Z: Any, width: int) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[1] != width:
        raise DataValidationError(
            f"Encoded rows must have shape (n_samples, {width}); got shape {Z.shape}."
        )
    if not np.isfinite(Z).all():
        raise DataValidationError(
            f"Encoded rows contain {int((~np.isfinite(Z)).sum())} NaN or infinite value(s); "
            "the model that produced them diverged."
        )
    return Z


def _check_is_fitted(transformer: Any) -> None:
    if not hasattr(transformer, "layout_"):
        raise NotFittedError(
            f"This {type(transformer).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


class _ModeJacobianError(HybridgenError, NotImplementedError):
    """The mode-specific encoding has no per-row Jacobian here; the VAE computes it."""

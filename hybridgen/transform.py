"""User data <-> the float64 matrix every model reads, and the layout of that matrix.

A transformer is fitted once on the user's data and then encodes rows into a float64
matrix whose blocks of columns it publishes as :attr:`~TabularTransformer.layout_`, a
tuple of :class:`Span`. Models read the layout to know which encoded columns are
continuous values, mode or category one-hots, "is missing" flags or pixels, and hand
encoded rows back to ``inverse_transform`` to get data of the kind fitted.

Tables (:class:`TabularTransformer`) encode each column in fitted order:

* numeric (float, integer): one ``continuous`` span holding the value (``identity``),
  the standardised value (``standard``) or, with ``mode``, the offset
  ``(x - mu_m) / (4 sigma_m)`` within the most probable mode ``m`` of a 1-D Gaussian
  mixture followed by a ``mode`` span, the one-hot of ``m``;
* categorical, boolean: one ``categorical`` span, the one-hot of the value, whose last
  slot stands for "missing" when the column had missing values at fit time;
* a numeric column with missing values at fit time gets a ``missing`` span (1.0 when
  missing); its value span then holds a neutral fill.

Images (:class:`ImageTransformer`) become one ``pixel`` span of values in [0, 1].

``log_abs_det_jacobian`` gives log |d encoded / d original| per row, so that a model's
log-density of an encoded row plus it is the log-density in the original units.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from . import _serialization
from ._column_summary import (
    TableSummary,
    column_spec,
    merge_tables,
    standard_params,
    summarize,
)
from ._columns import (
    _MAX_SHOWN,
    KINDS,
    NUMERIC_KINDS,
    ColumnSpec,
    Span,
    _as_float_matrix,
    _build_layout,
    _category_codes,
    _check_encoded,
    _check_feature_names,
    _check_is_fitted,
    _check_not_empty,
    _ModeJacobianError,
    _numeric_values,
    _restore_categorical,
    _restore_numeric,
    _span_index,
    _str_feature_names,
    _warn_unseen,
)
from ._modes import (
    decode_modes,
    encode_modes,
    fit_mode_mixtures,
    prune_modes,
)
from ._validation import Interval, Options, validate_params
from .exceptions import (
    DataValidationError,
    InvalidParameterError,
)

__all__ = [
    "ColumnSpec",
    "ImageTransformer",
    "Span",
    "TableSummary",
    "TabularTransformer",
    "decode_modes",
    "dequantize",
    "encode_modes",
    "fit_mode_mixtures",
    "make_transformer",
    "merge_tables",
    "prune_modes",
]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------
def _fit_modes(values: np.ndarray, max_modes: int) -> list[dict[str, np.ndarray]]:
    weights, means, stds = fit_mode_mixtures(values, max_modes)
    return [prune_modes(*params) for params in zip(weights, means, stds, strict=True)]


@_serialization.register
class TabularTransformer(BaseEstimator):
    """Encode a DataFrame or a 2-D numeric array into a float64 matrix, and back.

    Parameters
    ----------
    numeric : {"identity", "standard", "mode"}, default="identity"
        Encoding of numeric columns: the raw value; ``(x - mean) / std``; or the
        mode-specific normalisation (a 1-D Gaussian mixture per column, each value
        encoded as its offset ``(x - mu_m) / (4 sigma_m)`` within its most probable
        mode ``m`` plus the one-hot of ``m``).
    max_modes : int, default=10
        Modes per numeric column with ``numeric="mode"`` (modes weighing less than
        0.005 are dropped after the fit).
    column_kinds : dict or None, default=None
        Overrides of the inferred kind, ``{column: "float" | "integer" | "boolean" |
        "categorical"}``.

    Attributes
    ----------
    columns_ : tuple of ColumnSpec
        One per input column, in input order.
    layout_ : tuple of Span
        The blocks of the encoded row, contiguous, in column order.
    n_encoded_ : int
        Width of the encoded row.
    n_features_in_ : int
    feature_names_in_ : ndarray of object of shape (n_features_in_,) or None
        Column names when X was a DataFrame with all-str column labels.
    input_kind_ : {"frame", "array"}
    numeric_encoding_ : str
        The ``numeric`` encoding used at fit time.
    numeric_params_ : dict
        Per numeric column: ``{"mean", "std"}`` (standard, float64 scalars) or
        ``{"weights", "means", "stds"}`` (mode, arrays of shape (n_modes,)); empty for
        identity.
    fill_values_ : dict
        Per numeric column with missing values: the encoded value put in the value
        span of a missing cell (identity: the column mean; otherwise 0).
    summary_ : TableSummary
        The mergeable column statistics the fit was made from (:meth:`summarize`).

    Examples
    --------
    >>> import pandas as pd
    >>> from hybridgen.transform import TabularTransformer
    >>> df = pd.DataFrame({"age": [23, 41, 35], "city": ["a", "b", "a"]})
    >>> t = TabularTransformer(numeric="standard").fit(df)
    >>> [(s.kind, s.width) for s in t.layout_]
    [('continuous', 1), ('categorical', 2)]
    >>> t.inverse_transform(t.transform(df)).equals(df)
    True
    """

    columns_: tuple[ColumnSpec, ...]
    summary_: TableSummary

    _parameter_constraints: dict[str, list[Any]] = {
        "numeric": [Options({"identity", "standard", "mode"})],
        "max_modes": [Interval(Integral, 1, None, closed="left")],
        "column_kinds": [None, "dict"],
    }

    def __init__(
        self,
        *,
        numeric: str = "identity",
        max_modes: int = 10,
        column_kinds: Mapping[Hashable, str] | None = None,
    ) -> None:
        self.numeric = numeric
        self.max_modes = max_modes
        self.column_kinds = column_kinds

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> TabularTransformer:
        """Infer the columns and fit the numeric encoding.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Missing values (NaN, None, pd.NA) are allowed; infinities are not.
        y : ignored

        Returns
        -------
        self : TabularTransformer
        """
        validate_params(self)
        summary, columns = self._summarize(X, self._checked_column_kinds)
        values = None
        if self.numeric == "mode":
            position = {name: j for j, name in enumerate(summary.names)}
            values = {
                c.name: _numeric_values(c.name, columns[position[c.name]])
                for c in summary.columns
                if c.kind in NUMERIC_KINDS
            }
        return self._fit_summary(summary, values)

    def summarize(self, X: Any) -> TableSummary:
        """The mergeable summary of the columns of ``X`` (one chunk of a larger table).

        Summaries of chunks, or of the shards of several processes, combine with
        :func:`merge_tables`; :meth:`fit_summary` then fits
        the transformer as :meth:`fit` would on all the rows at once.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        summary : TableSummary
        """
        validate_params(self)
        return self._summarize(X, self._checked_column_kinds)[0]

    def fit_summary(
        self, summary: TableSummary, values: Mapping[Hashable, np.ndarray] | None = None
    ) -> TabularTransformer:
        """Fit from the merged summary of every row (see :meth:`summarize`).

        Parameters
        ----------
        summary : TableSummary
        values : dict of column -> ndarray of shape (n_values,), default=None
            With ``numeric="mode"``: numbers of each numeric column (a sample of its
            rows; NaN allowed) that the mode mixtures are fitted on.

        Returns
        -------
        self : TabularTransformer

        Raises
        ------
        InvalidParameterError
            With ``numeric="mode"`` and no ``values``.
        """
        validate_params(self)
        if self.numeric == "mode" and values is None:
            raise InvalidParameterError(
                "TabularTransformer(numeric='mode') fits a mixture to the values of each "
                "numeric column: pass them (a sample will do) as fit_summary(summary, "
                "values), or use fit(X)."
            )
        return self._fit_summary(summary, values)

    def numeric_sample(self, X: Any, max_rows: int) -> dict[Hashable, np.ndarray]:
        """The numbers of every numeric column of ``X`` in at most ``max_rows`` evenly
        spaced rows (NaN for missing cells), for :meth:`fit_summary`.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        max_rows : int

        Returns
        -------
        values : dict of column -> ndarray of shape (min(n_samples, max_rows),)
        """
        summary, columns = self._summarize(X, self._checked_column_kinds)
        rows = np.unique(np.linspace(0, len(columns[0]) - 1, max(1, max_rows)).astype(int))
        picked = [c[rows] if isinstance(c, np.ndarray) else c.iloc[rows] for c in columns]
        return {  # a column with no value here may be numeric elsewhere: NaN, all of it
            c.name: _numeric_values(c.name, column) if c.kind else np.full(len(rows), np.nan)
            for c, column in zip(summary.columns, picked, strict=True)
            if c.kind in (*NUMERIC_KINDS, None)
        }

    def partial_fit(self, X: Any, y: Any = None, *, owner: str | None = None) -> TabularTransformer:
        """Fit on a first chunk, then take later chunks into the column statistics.

        The first call fixes the encoding: the columns, their kinds and categories,
        which numeric columns have missing values, and the numeric scale. Later calls
        widen the numeric ranges (integers are clipped to them on decoding) and update
        the missing rates.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : ignored
        owner : str or None
            Name of the estimator to put in messages.

        Returns
        -------
        self : TabularTransformer

        Raises
        ------
        DataValidationError
            When a later chunk needs another encoding: other columns, a category the
            first call did not see, or missing values in a column that had none. Make
            the first chunk representative (a sample of the stream), or fit on every
            chunk with :meth:`summarize` and :meth:`fit_summary`.
        """
        if not hasattr(self, "layout_"):
            return self.fit(X)
        self._read_for_transform(X, owner or type(self).__name__)  # scikit-learn's checks
        fitted = {spec.name: spec.kind for spec in self.columns_}
        chunk, _ = self._summarize(X, lambda names: fitted)
        merged = merge_tables(self.summary_, chunk, "this chunk")
        specs = []
        for old, column, part in zip(self.columns_, merged.columns, chunk.columns, strict=True):
            new = column_spec(column)
            occurring = {c for c, k in zip(part.categories, part.category_counts, strict=True) if k}
            unseen = sorted(occurring - set(old.categories), key=str)
            if unseen or (part.n_missing and not old.has_missing):
                what = f"categories {unseen}" if unseen else "missing values"
                raise DataValidationError(
                    f"Column {old.name!r} has {what} in this chunk, which the first chunk "
                    "passed to partial_fit did not have, so its encoding cannot hold them. "
                    "Make the first chunk representative (for example a sample of the "
                    "stream), or fit on every chunk at once."
                )
            specs.append(
                replace(
                    old,
                    missing_rate=new.missing_rate,
                    minimum=new.minimum,
                    maximum=new.maximum,
                )
            )
        self.columns_, self.summary_ = tuple(specs), merged
        return self

    def _summarize(
        self, X: Any, kinds_for: Callable[[Sequence[Hashable]], Mapping[Hashable, str]]
    ) -> tuple[TableSummary, list[pd.Series | np.ndarray]]:
        input_kind, names, columns = _read_for_fit(X)
        kinds = kinds_for(names)
        summaries = tuple(
            summarize(name, column, kinds.get(name))
            for name, column in zip(names, columns, strict=True)
        )
        return TableSummary(input_kind, tuple(names), _str_feature_names(X), summaries), columns

    def _fit_summary(
        self, summary: TableSummary, values: Mapping[Hashable, np.ndarray] | None
    ) -> TabularTransformer:
        specs = tuple(column_spec(column) for column in summary.columns)
        numeric = [c for c, spec in zip(summary.columns, specs, strict=True) if spec.is_numeric]
        self.numeric_encoding_ = self.numeric
        self.numeric_params_: dict[Hashable, dict[str, Any]] = {}
        if numeric and self.numeric == "standard":
            self.numeric_params_ = {c.name: standard_params(c) for c in numeric}
        elif numeric and self.numeric == "mode":
            assert values is not None
            absent = [c.name for c in numeric if c.name not in values]
            if absent:
                raise DataValidationError(
                    f"Column {absent[0]!r} is numeric, but the values given to fit_summary "
                    "hold no sample of it; expected an array of its numbers for every "
                    f"numeric column ({len(absent)} missing)."
                )
            if len({len(values[c.name]) for c in numeric}) > 1:
                raise DataValidationError(
                    "The values given to fit_summary must sample the same rows of every "
                    "numeric column (arrays of one length)."
                )
            matrix = np.column_stack([values[c.name] for c in numeric])
            params = _fit_modes(matrix, self.max_modes)
            self.numeric_params_ = {c.name: p for c, p in zip(numeric, params, strict=True)}
        self.columns_ = specs
        self.layout_ = _build_layout(specs, self.numeric, self.numeric_params_)
        self.n_encoded_ = self.layout_[-1].stop
        self.n_features_in_ = len(specs)
        self.feature_names_in_ = summary.feature_names
        self.input_kind_ = summary.input_kind
        identity = self.numeric == "identity"
        self.fill_values_ = {c.name: c.mean if identity else 0.0 for c in numeric if c.n_missing}
        self.summary_ = summary
        return self

    def category_counts(self) -> np.ndarray:
        """How often each categorical slot occurred in the rows fitted on.

        Returns
        -------
        counts : ndarray of float64 of shape (n_categorical_slots,)
            In the order of the encoded categorical columns: each categorical or
            boolean column's categories, then its "missing" slot when it had missing
            values. A category that never occurred (declared by a pandas Categorical)
            counts 0.
        """
        _check_is_fitted(self)
        out: list[float] = []
        for spec, column in zip(self.columns_, self.summary_.columns, strict=True):
            if not spec.is_numeric:
                tally = dict(zip(column.categories, column.category_counts, strict=True))
                out += [tally.get(category, 0) for category in spec.categories]
                out += [column.n_missing] if spec.has_missing else []
        return np.asarray(out, dtype=np.float64)

    def _checked_column_kinds(self, names: Sequence[Hashable]) -> Mapping[Hashable, str]:
        kinds = self.column_kinds or {}
        for column, kind in kinds.items():
            if column not in names:
                raise InvalidParameterError(
                    f"The 'column_kinds' parameter of {type(self).__name__} names column "
                    f"{column!r}, which is not in X (columns: {list(names)[:10]})."
                )
            if kind not in KINDS:
                raise InvalidParameterError(
                    f"The 'column_kinds' parameter of {type(self).__name__} maps column "
                    f"{column!r} to {kind!r}; expected one of {list(KINDS)}."
                )
        return kinds

    # -- helpers shared by the inference methods -----------------------------------------------
    def _numeric_specs(self) -> list[ColumnSpec]:
        return [spec for spec in self.columns_ if spec.is_numeric]

    def _affine(self, specs: Sequence[ColumnSpec]) -> tuple[np.ndarray, np.ndarray]:
        """(shift, scale) of each numeric column: encoded = (x - shift) / scale."""
        if self.numeric_encoding_ == "identity":
            return np.zeros(len(specs)), np.ones(len(specs))
        params = [self.numeric_params_[spec.name] for spec in specs]
        return (
            np.array([float(p["mean"]) for p in params]),
            np.array([float(p["std"]) for p in params]),
        )

    def _read_for_transform(self, X: Any, owner: str) -> list[pd.Series | np.ndarray]:
        """The columns of ``X`` in fitted order, after scikit-learn's input checks."""
        names = [spec.name for spec in self.columns_]
        if self.input_kind_ == "frame" and isinstance(X, pd.DataFrame):
            _check_feature_names(list(X.columns), names)
            _check_not_empty(X.shape)
            return [X[name] for name in names]
        if self.input_kind_ == "frame":
            self._check_all_numeric(X, owner)
            if self.feature_names_in_ is not None:
                warnings.warn(
                    f"X does not have valid feature names, but {owner} was fitted with "
                    "feature names",
                    UserWarning,
                    stacklevel=3,
                )
        elif _str_feature_names(X) is not None:
            warnings.warn(
                f"X has feature names, but {owner} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        array = _as_float_matrix(X)
        if array.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {array.shape[1]} features, but {owner} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return [array[:, j] for j in range(array.shape[1])]

    def _check_all_numeric(self, X: Any, owner: str) -> None:
        other = [spec.name for spec in self.columns_ if not spec.is_numeric]
        if other:
            raise DataValidationError(
                f"{owner} was fitted on a DataFrame with categorical or boolean columns "
                f"({other[:_MAX_SHOWN]}); pass a DataFrame with the fitted columns, not a "
                f"{type(X).__name__}."
            )

    # -- transform -----------------------------------------------------------------------------
    def transform(self, X: Any, *, owner: str | None = None) -> np.ndarray:
        """Encode rows.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data of the kind fitted.
        owner : str or None
            Name of the estimator to put in messages (default: this class's name).

        Returns
        -------
        Z : ndarray of float64 of shape (n_samples, n_encoded_)

        Warns
        -----
        UnseenCategoryWarning
            A categorical value (or a missing value) not seen at fit time; its span is
            all zero.
        """
        _check_is_fitted(self)
        owner = owner or type(self).__name__
        columns = self._read_for_transform(X, owner)
        Z = np.zeros((len(columns[0]), self.n_encoded_))
        spans = _span_index(self.layout_)
        self._encode_numeric(Z, columns, spans, owner)
        for spec, column in zip(self.columns_, columns, strict=True):
            if not spec.is_numeric:
                codes = _category_codes(column, spec)
                unseen = codes < 0
                if unseen.any():
                    _warn_unseen(column, spec, unseen, owner)
                rows = np.flatnonzero(~unseen)
                Z[rows, spans[spec.name]["categorical"].start + codes[rows]] = 1.0
        return Z

    def _numeric_matrix(
        self, columns: Sequence[pd.Series | np.ndarray], owner: str
    ) -> tuple[list[ColumnSpec], np.ndarray]:
        position = {spec.name: j for j, spec in enumerate(self.columns_)}
        specs = self._numeric_specs()
        V = np.empty((len(columns[0]), len(specs)))
        for j, spec in enumerate(specs):
            V[:, j] = _numeric_values(spec.name, columns[position[spec.name]])
            n_missing = int(np.isnan(V[:, j]).sum())
            if n_missing and not spec.has_missing:
                raise DataValidationError(
                    f"Column {spec.name!r} has {n_missing} missing value(s), but had none at "
                    f"fit time, so {owner} cannot represent them; fill or drop these rows."
                )
        return specs, V

    def _encode_numeric(
        self, Z: np.ndarray, columns: Sequence[Any], spans: Mapping[Hashable, Any], owner: str
    ) -> None:
        specs, V = self._numeric_matrix(columns, owner)
        if not specs:
            return
        missing = np.isnan(V)
        value_cols = np.array([spans[s.name]["continuous"].start for s in specs])
        flagged = [j for j, s in enumerate(specs) if s.has_missing]
        Z[:, [spans[specs[j].name]["missing"].start for j in flagged]] = missing[:, flagged]
        if self.numeric_encoding_ == "mode":
            offsets, modes = encode_modes(V, [self.numeric_params_[s.name] for s in specs])
            Z[:, value_cols] = offsets
            mode_cols = np.array([spans[s.name]["mode"].start for s in specs])
            Z[np.arange(len(V))[:, None], mode_cols + modes] = 1.0
            return
        shift, scale = self._affine(specs)
        fill = np.array([self.fill_values_.get(s.name, 0.0) for s in specs])
        Z[:, value_cols] = np.where(missing, fill, (V - shift) / scale)

    # -- inverse_transform ---------------------------------------------------------------------
    def inverse_transform(self, Z: Any) -> pd.DataFrame | np.ndarray:
        """Decode encoded rows (possibly produced by a model) into data of the kind fitted.

        Categorical spans are read by argmax (the last slot of a column that had missing
        values means missing); a missing span above 0.5 means missing; integers are
        rounded and clipped to their fitted range; dtypes are restored.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_encoded_)

        Returns
        -------
        X : DataFrame with the fitted columns and dtypes, or ndarray of float64 of shape
            (n_samples, n_features_in_) when fitted on an array.
        """
        _check_is_fitted(self)
        Z = _check_encoded(Z, self.n_encoded_)
        spans = _span_index(self.layout_)
        numeric = self._decode_numeric(Z, spans)
        out: dict[Hashable, pd.Series] = {}
        for spec in self.columns_:
            if spec.is_numeric:
                out[spec.name] = _restore_numeric(spec, numeric[spec.name])
                continue
            span = spans[spec.name]["categorical"]
            codes = np.argmax(Z[:, span.start : span.stop], axis=1)
            out[spec.name] = _restore_categorical(
                spec, np.where(codes >= len(spec.categories), -1, codes)
            )
        if self.input_kind_ == "array":
            return np.column_stack(
                [s.to_numpy(dtype=np.float64, na_value=np.nan) for s in out.values()]
            )
        return pd.DataFrame(out)

    def _decode_numeric(
        self, Z: np.ndarray, spans: Mapping[Hashable, Mapping[str, Span]]
    ) -> dict[Hashable, np.ndarray]:
        specs = self._numeric_specs()
        if not specs:
            return {}
        encoded = Z[:, [spans[s.name]["continuous"].start for s in specs]]
        if self.numeric_encoding_ == "mode":
            modes = np.column_stack(
                [
                    np.argmax(
                        Z[:, spans[s.name]["mode"].start : spans[s.name]["mode"].stop], axis=1
                    )
                    for s in specs
                ]
            )
            values = decode_modes(encoded, modes, [self.numeric_params_[s.name] for s in specs])
        else:
            shift, scale = self._affine(specs)
            values = encoded * scale + shift
        for j, spec in enumerate(specs):
            if spec.has_missing:
                values[Z[:, spans[spec.name]["missing"].start] > 0.5, j] = np.nan
        return {spec.name: values[:, j] for j, spec in enumerate(specs)}

    # -- change of variables -------------------------------------------------------------------
    def log_abs_det_jacobian(self, Z: Any) -> np.ndarray:
        """log |d encoded / d original| of each row, summed over its observed numeric cells.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_encoded_)

        Returns
        -------
        log_det : ndarray of shape (n_samples,)
            0 for ``identity``; the sum of ``-log(std)`` over observed numeric cells for
            ``standard``.

        Raises
        ------
        HybridgenError (also a NotImplementedError)
            For ``numeric="mode"``, whose Jacobian depends on the mode the model chose.
        """
        _check_is_fitted(self)
        Z = _check_encoded(Z, self.n_encoded_)
        if self.numeric_encoding_ == "mode":
            raise _ModeJacobianError(
                "log_abs_det_jacobian is not defined for numeric='mode' here: the Jacobian "
                "depends on the mode a model assigns to each cell; compute it from "
                "numeric_params_ ('stds' of the chosen mode) in the model."
            )
        specs = self._numeric_specs()
        if not specs:
            return np.zeros(len(Z))
        _, scale = self._affine(specs)
        observed = np.ones((len(Z), len(specs)))
        spans = _span_index(self.layout_)
        for j, spec in enumerate(specs):
            if spec.has_missing:
                observed[:, j] = Z[:, spans[spec.name]["missing"].start] <= 0.5
        return observed @ -np.log(scale)


def _read_for_fit(X: Any) -> tuple[str, list[Hashable], list[pd.Series | np.ndarray]]:
    """("frame" or "array", column names, columns) of ``X``; the columns are read-only
    views of the caller's data."""
    if isinstance(X, pd.DataFrame):
        _check_not_empty(X.shape)
        if X.columns.has_duplicates:
            duplicated = list(X.columns[X.columns.duplicated()].unique())
            raise DataValidationError(
                f"X has duplicated column names {duplicated[:_MAX_SHOWN]}; names must be unique."
            )
        return "frame", list(X.columns), [X.iloc[:, j] for j in range(X.shape[1])]
    array = _as_float_matrix(X)
    return "array", list(range(array.shape[1])), [array[:, j] for j in range(array.shape[1])]


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------
def _check_images(X: Any) -> np.ndarray:
    expected = (
        "a numpy array of shape (n_samples, H, W) or (n_samples, C, H, W) with dtype uint8 "
        "(0..255) or float (in [0, 1])"
    )
    if not isinstance(X, np.ndarray):
        raise DataValidationError(f"Images must be {expected}; got a {type(X).__name__}.")
    if X.ndim not in (3, 4):
        raise DataValidationError(f"Images must be {expected}; got shape {X.shape}.")
    _check_not_empty((X.shape[0], int(np.prod(X.shape[1:]))))
    if X.dtype == np.uint8:
        return X
    if X.dtype.kind != "f":
        raise DataValidationError(f"Images must be {expected}; got dtype {X.dtype}.")
    n_bad = int((~np.isfinite(X)).sum())
    if n_bad:
        raise DataValidationError(
            f"Images must be {expected}; got {n_bad} NaN or infinite value(s)."
        )
    low, high = float(X.min()), float(X.max())
    if low < 0.0 or high > 1.0:
        raise DataValidationError(
            f"Float images must hold values in [0, 1]; got values in [{low:g}, {high:g}]. "
            "Divide 0..255 data by 255, or pass it as uint8."
        )
    return X


@_serialization.register
class ImageTransformer(BaseEstimator):
    """Flatten images into rows of pixel values in [0, 1], and back.

    Accepts numpy arrays of shape (n_samples, H, W) or (n_samples, C, H, W), of dtype
    uint8 (0..255, divided by 255) or float (already in [0, 1]).

    Attributes
    ----------
    image_shape_ : tuple of int
        (C, H, W); C is 1 when the input had no channel axis.
    channel_axis_ : bool
        Whether the fitted input had a channel axis.
    dtype_ : str
        The fitted dtype, restored by ``inverse_transform``.
    n_features_in_, n_encoded_ : int
        C * H * W.
    layout_ : tuple of Span
        One ``pixel`` span with a sigmoid activation.
    input_kind_ : "image"
    columns_ : ()
    feature_names_in_ : None
    """

    _parameter_constraints: dict[str, list[Any]] = {}

    def fit(self, X: Any, y: Any = None) -> ImageTransformer:
        """Record the image shape and dtype.

        Parameters
        ----------
        X : ndarray of shape (n_samples, H, W) or (n_samples, C, H, W)
        y : ignored

        Returns
        -------
        self : ImageTransformer
        """
        validate_params(self)
        X = _check_images(X)
        self.channel_axis_ = X.ndim == 4
        shape = X.shape[1:] if X.ndim == 4 else (1, *X.shape[1:])
        self.image_shape_ = tuple(int(d) for d in shape)
        self.dtype_ = str(X.dtype)
        self.n_features_in_ = self.n_encoded_ = int(np.prod(self.image_shape_))
        self.layout_ = (Span("pixels", "pixel", self.n_encoded_, "sigmoid", 0),)
        self.input_kind_ = "image"
        self.columns_: tuple[ColumnSpec, ...] = ()
        self.feature_names_in_ = None
        return self

    def transform(self, X: Any, *, owner: str | None = None) -> np.ndarray:
        """Flatten images to pixel values in [0, 1].

        Parameters
        ----------
        X : ndarray of the fitted image shape, (n_samples, *image shape)
        owner : str or None
            Name of the estimator to put in messages.

        Returns
        -------
        Z : ndarray of float64 of shape (n_samples, C * H * W)
        """
        _check_is_fitted(self)
        owner = owner or type(self).__name__
        X = _check_images(X)
        expected = self.image_shape_ if self.channel_axis_ else self.image_shape_[1:]
        if X.shape[1:] != expected:
            raise DataValidationError(
                f"X holds images of shape {X.shape[1:]}, but {owner} was fitted on images of "
                f"shape {expected}."
            )
        Z = X.reshape(len(X), -1).astype(np.float64)
        return Z / 255.0 if X.dtype == np.uint8 else Z

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Images of the fitted shape and dtype from rows of pixel values (clipped to [0, 1]).

        Parameters
        ----------
        Z : array-like of shape (n_samples, C * H * W)

        Returns
        -------
        X : ndarray of shape (n_samples, C, H, W) or (n_samples, H, W), fitted dtype
        """
        _check_is_fitted(self)
        Z = np.clip(_check_encoded(Z, self.n_encoded_), 0.0, 1.0)
        shape = self.image_shape_ if self.channel_axis_ else self.image_shape_[1:]
        images = Z.reshape(len(Z), *shape)
        if self.dtype_ == "uint8":
            return np.rint(images * 255.0).astype(np.uint8)
        return images.astype(self.dtype_)

    def log_abs_det_jacobian(self, Z: Any) -> np.ndarray:
        """log |d encoded / d original| per row: ``-D log 255`` for uint8, 0 for floats.

        Parameters
        ----------
        Z : array-like of shape (n_samples, C * H * W)

        Returns
        -------
        log_det : ndarray of shape (n_samples,)
        """
        _check_is_fitted(self)
        Z = _check_encoded(Z, self.n_encoded_)
        per_row = -self.n_encoded_ * math.log(255.0) if self.dtype_ == "uint8" else 0.0
        return np.full(len(Z), per_row)


def dequantize(
    transformer: TabularTransformer | ImageTransformer, Z: np.ndarray, rng: np.random.RandomState
) -> np.ndarray:
    """Spread each uint8 pixel uniformly over its 1/255-wide bin (a density model's
    training data); anything else is returned as it is.

    A density fitted on the raw 0..255 grid can put unbounded mass on constant pixels.
    Fitted on dequantised values, its density at a bin's centre times the bin's width
    (the ``-D log 255`` Jacobian) approximates the probability of the integer value,
    so its ``score`` is comparable with a discrete pixel model's (Theis et al. 2016).

    Parameters
    ----------
    transformer : fitted TabularTransformer or ImageTransformer
    Z : ndarray of shape (n_samples, n_encoded)
    rng : RandomState

    Returns
    -------
    Z : ndarray of shape (n_samples, n_encoded)
    """
    if not (isinstance(transformer, ImageTransformer) and transformer.dtype_ == "uint8"):
        return Z
    return Z + rng.uniform(-0.5, 0.5, size=Z.shape) / 255.0


def make_transformer(X: Any, **params: Any) -> TabularTransformer | ImageTransformer:
    """The (unfitted) transformer for ``X``.

    Parameters
    ----------
    X : DataFrame, array-like of shape (n_samples, n_features), or ndarray of images of
        shape (n_samples, H, W) or (n_samples, C, H, W)
    **params
        Passed to :class:`TabularTransformer`; ignored for images.

    Returns
    -------
    transformer : ImageTransformer for numpy arrays with 3 or 4 dimensions,
        TabularTransformer otherwise.
    """
    if isinstance(X, np.ndarray) and X.ndim in (3, 4):
        return ImageTransformer()
    return TabularTransformer(**params)

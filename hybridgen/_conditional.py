"""Conditions on sampled rows: checked once, and turned into the encoded layout.

``sample(n_samples, conditions=...)`` accepts

* a dict ``{column: value}`` applied to every row; a numeric column may take a range
  ``(low, high)`` instead (inclusive, None for an open end);
* a DataFrame of per-row conditions (SDV style): a subset of the fitted columns, NaN
  meaning "no condition for this cell", one row per sampled row.

:func:`encode_conditions` checks them against a fitted transformer and returns an
:class:`EncodedConditions`, which every model reads: which encoded cells are fixed and
to what value in each row, which categorical slot is forced, which numeric value cell
is restricted to a range. After decoding, :func:`impose` writes the exact given values
into the numeric cells (an encoded value decodes with a rounding error) and keeps
ranged values inside their range.

Columns are named as at fit time: DataFrame labels, or integer positions for a model
fitted on a 2-D array. Images have no columns; class-conditional image sampling
belongs to a model fitted with labels.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._columns import _MAX_SHOWN, ColumnSpec, Span, _scalar, _span_index
from ._modes import encode_modes
from .exceptions import DataValidationError

__all__ = [
    "EncodedConditions",
    "ForcedCategory",
    "NumericRange",
    "NumericValues",
    "encode_conditions",
    "encode_labels",
    "impose",
    "satisfied",
]


class NumericValues(NamedTuple):
    """Values a numeric column must take, in the column's own units."""

    column: Hashable
    values: np.ndarray  # (n_rows,) float64, NaN where the row leaves the column free


class ForcedCategory(NamedTuple):
    """The category a categorical (or boolean) column must take in each row."""

    column: Hashable
    span: Span  # the column's categorical span
    slots: np.ndarray  # (n_rows,) int64 slot within the span, -1 where free


class NumericRange(NamedTuple):
    """An inclusive range a numeric column must fall in, in every row.

    ``low``/``high`` bound the decoded value (for an integer column, the integers
    ceil(low)..floor(high)); ``encoded_low``/``encoded_high`` bound the encoded value
    cell so that its decoded value lands in the range (an integer column is rounded
    and clipped to its fitted range on decoding, which widens them by 0.5, or to
    infinity at the fitted extremes). They are None for ``numeric="mode"``, whose
    value cell is not an affine function of the value.
    """

    column: Hashable
    cell: int
    low: float
    high: float
    encoded_low: float | None
    encoded_high: float | None


@dataclass(frozen=True)
class EncodedConditions:
    """Conditions on ``n_rows`` sampled rows in the encoded layout.

    Attributes
    ----------
    n_rows : int
    cells : ndarray of int of shape (n_cells,)
        Encoded columns that some row fixes: value cells (and, with ``numeric="mode"``,
        mode one-hots) of numeric columns given a value, every slot of a categorical
        column given a category, and the "is missing" flag (fixed to 0) of a numeric
        column given a value or a range.
    values : ndarray of float64 of shape (n_rows, n_cells)
        The encoded value of each fixed cell in each row; NaN where that row leaves it free.
    categories : tuple of ForcedCategory
    numbers : tuple of NumericValues
    ranges : tuple of NumericRange
    shared : bool
        Every row carries the same conditions (they came from a dict), so a model may
        work out the conditional once.
    """

    n_rows: int
    cells: np.ndarray
    values: np.ndarray
    categories: tuple[ForcedCategory, ...] = ()
    numbers: tuple[NumericValues, ...] = ()
    ranges: tuple[NumericRange, ...] = ()
    shared: bool = False

    @property
    def is_empty(self) -> bool:
        """True when no row is restricted at all (sampling is then unconditional)."""
        return not self.ranges and bool(np.isnan(self.values).all())

    def dense(self, n_encoded: int, rows: np.ndarray | None = None) -> np.ndarray:
        """(n_rows, n_encoded) float64: the fixed encoded values, NaN for free cells (of
        the rows at indices ``rows`` when given)."""
        values = self.values if rows is None else self.values[rows]
        out = np.full((len(values), n_encoded), np.nan)
        out[:, self.cells] = values
        return out

    def distinct_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, inverse): the index of one row of each distinct set of conditions, in
        order of appearance, and for every row the position of its set among them, so
        that a model can work each distinct conditional out once."""
        inverse = np.zeros(self.n_rows, dtype=np.int64)
        if not self.shared:
            columns = [c.slots for c in self.categories] + [v.values for v in self.numbers]
            for column in columns:  # codes of the combinations seen, in order of appearance
                codes, uniques = pd.factorize(column, use_na_sentinel=False)
                if len(uniques) > self.n_rows // 2:  # (nearly) every row differs: no gain
                    inverse = np.arange(self.n_rows)
                    break
                inverse = pd.factorize(inverse * len(uniques) + codes)[0]
        seen = np.maximum.accumulate(inverse)
        return np.flatnonzero(np.diff(seen, prepend=-1) > 0), inverse


class _Part(NamedTuple):
    """What one conditioned column contributes."""

    cells: list[int]
    values: np.ndarray  # (n_rows, len(cells))
    category: ForcedCategory | None = None
    number: NumericValues | None = None
    range: NumericRange | None = None


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------
def encode_conditions(
    transformer: Any, conditions: Any, n_rows: int, owner: str
) -> EncodedConditions:
    """Check ``conditions`` against the fitted ``transformer`` and encode them.

    Parameters
    ----------
    transformer : fitted TabularTransformer (an ImageTransformer is refused)
    conditions : dict or DataFrame
        See the module docstring. Never modified.
    n_rows : int
        Rows to sample; a DataFrame of conditions must have exactly this many.
    owner : str
        The estimator's name, for messages.

    Returns
    -------
    conditions : EncodedConditions

    Raises
    ------
    DataValidationError
        Naming the column, what was expected and what arrived.
    """
    if getattr(transformer, "input_kind_", None) == "image":
        raise DataValidationError(
            f"{owner} was fitted on images, which have no columns to condition on, and "
            f"{owner} has no class labels; use conditions=None. Class-conditional image "
            "sampling needs a model fitted with labels (y)."
        )
    shared = not isinstance(conditions, pd.DataFrame)
    if isinstance(conditions, pd.DataFrame):
        parts = _frame_parts(transformer, conditions, n_rows, owner)
    elif isinstance(conditions, Mapping):
        parts = [
            _dict_part(transformer, _spec(transformer, key, owner), value, n_rows)
            for key, value in conditions.items()
        ]
    else:
        raise DataValidationError(
            "conditions must be a dict {column: value or (low, high)} or a DataFrame of "
            f"per-row conditions; got a {type(conditions).__name__}."
        )
    return _assemble(parts, n_rows, shared)


def encode_labels(classes: np.ndarray, conditions: Any, n_rows: int, owner: str) -> np.ndarray:
    """Class indices of the images to draw from a model fitted with labels.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The fitted ``classes_``.
    conditions : a label, or array-like of shape (n_rows,) with one label per image
    n_rows : int
    owner : str
        The estimator's name, for messages.

    Returns
    -------
    labels : ndarray of int64 of shape (n_rows,)
        Indices into ``classes``.
    """
    if isinstance(conditions, Mapping | pd.DataFrame):
        raise DataValidationError(
            f"{owner} was fitted on images with class labels; conditions are a class label "
            f"or one label per image, not a {type(conditions).__name__}. Expected one of "
            f"{classes.tolist()[: 4 * _MAX_SHOWN]}."
        )
    values = np.asarray(conditions, dtype=object)
    if values.ndim == 0:
        values = np.full(n_rows, values.item(), dtype=object)
    elif values.ndim != 1 or len(values) != n_rows:
        raise DataValidationError(
            f"conditions hold {values.shape} labels, but n_samples is {n_rows}; expected one "
            "class label, or one label per sampled image."
        )
    codes = pd.Index(list(classes), dtype=object).get_indexer(values.tolist())
    if (codes < 0).any():
        unknown = pd.unique(values[codes < 0])[:_MAX_SHOWN].tolist()
        raise DataValidationError(
            f"conditions give the class label(s) {unknown}, which {owner} was not fitted "
            f"with; expected one of {classes.tolist()[: 4 * _MAX_SHOWN]}."
        )
    return codes.astype(np.int64)


def impose(X: Any, conditions: EncodedConditions, transformer: Any) -> Any:
    """Write the exact given values into the decoded numeric cells and clip ranged cells
    to their range (decoding an encoded value is exact only up to rounding).

    Parameters
    ----------
    X : DataFrame or ndarray of shape (n_rows, n_features)
        Freshly decoded rows (modified in place and returned).
    conditions : EncodedConditions
    transformer : the fitted TabularTransformer that decoded them

    Returns
    -------
    X : DataFrame or ndarray
    """
    specs = {spec.name: spec for spec in transformer.columns_}
    for number in conditions.numbers:
        given = ~np.isnan(number.values)
        column = _column_values(X, number.column)
        column[given] = number.values[given]
        _set_column(X, specs[number.column], column)
    for bounds in conditions.ranges:
        column = _column_values(X, bounds.column)
        _set_column(X, specs[bounds.column], np.clip(column, bounds.low, bounds.high))
    return X


def satisfied(
    X: Any,
    conditions: EncodedConditions,
    rows: np.ndarray,
    transformer: Any,
    columns: Collection[Hashable],
) -> np.ndarray:
    """Whether decoded row ``X[i]`` meets the conditions of row ``rows[i]`` on ``columns``
    (a rejection sampler's test).

    Parameters
    ----------
    X : DataFrame or ndarray of shape (n_candidates, n_features)
        Decoded candidate rows.
    conditions : EncodedConditions
    rows : ndarray of int of shape (n_candidates,)
        The row of conditions each candidate is tested against.
    transformer : the fitted TabularTransformer
    columns : collection of column names
        Only conditions on these columns are tested.

    Returns
    -------
    ok : ndarray of bool of shape (n_candidates,)
    """
    specs = {spec.name: spec for spec in transformer.columns_}
    ok = np.ones(len(rows), dtype=bool)
    for forced in conditions.categories:
        if forced.column in columns:
            want = forced.slots[rows]
            values = pd.Series(np.asarray(X[forced.column], dtype=object))
            ok &= (want < 0) | (_category_slots(specs[forced.column], values) == want)
    for number in conditions.numbers:
        if number.column in columns:
            want = number.values[rows]
            ok &= np.isnan(want) | (_column_values(X, number.column) == want)
    for bounds in conditions.ranges:
        if bounds.column in columns:
            got = _column_values(X, bounds.column)
            ok &= (got >= bounds.low) & (got <= bounds.high)
    return ok


# ---------------------------------------------------------------------------------------
# Reading the user's conditions
# ---------------------------------------------------------------------------------------
def _spec(transformer: Any, key: Hashable, owner: str) -> ColumnSpec:
    """The fitted column ``key`` names (numpy scalars read as Python ones)."""
    specs = {spec.name: spec for spec in transformer.columns_}
    name = _scalar(key)
    if not isinstance(name, bool) and name in specs:
        return specs[name]
    names = list(specs)
    if transformer.input_kind_ == "array":
        expected = f"an integer column index in 0..{len(names) - 1} (fitted on an array)"
    else:
        shown = ", ".join(repr(n) for n in names[:_MAX_SHOWN])
        more = ", ..." if len(names) > _MAX_SHOWN else ""
        expected = f"one of the fitted columns ({shown}{more})"
    raise DataValidationError(
        f"conditions name column {key!r}, which {owner} was not fitted on; expected {expected}."
    )


def _dict_part(transformer: Any, spec: ColumnSpec, value: Any, n_rows: int) -> _Part:
    """The part of one dict entry; the same condition in every row."""
    if isinstance(value, tuple):
        return _range_part(transformer, spec, _range_ends(spec, value), n_rows)
    if isinstance(value, list | np.ndarray | pd.Series | set | dict):
        raise DataValidationError(
            f"conditions give column {spec.name!r} a {type(value).__name__}; expected one "
            "value for every row (or, for a numeric column, a (low, high) tuple). Per-row "
            "conditions are a DataFrame."
        )
    if _is_missing(value):
        raise DataValidationError(
            f"conditions give column {spec.name!r} a missing value ({value!r}); a dict "
            "condition needs a value. NaN means 'no condition' only in a DataFrame of "
            "per-row conditions: leave the column out of the dict."
        )
    if spec.is_numeric:
        number = _number(spec, value)
        return _numeric_part(transformer, spec, np.full(n_rows, number))
    slot = _category_slots(spec, pd.Series([_scalar(value)], dtype=object))[0]
    return _category_part(transformer, spec, np.full(n_rows, slot, dtype=np.int64))


def _frame_parts(transformer: Any, frame: pd.DataFrame, n_rows: int, owner: str) -> list[_Part]:
    if len(frame) != n_rows:
        raise DataValidationError(
            f"conditions is a DataFrame of {len(frame)} per-row conditions, but n_samples is "
            f"{n_rows}; expected one row of conditions per sampled row (pass "
            f"n_samples={len(frame)})."
        )
    if frame.columns.has_duplicates:
        duplicated = list(frame.columns[frame.columns.duplicated()].unique())
        raise DataValidationError(
            f"conditions has duplicated columns {duplicated[:_MAX_SHOWN]}; expected each "
            "column once."
        )
    parts = []
    for j, key in enumerate(frame.columns):
        spec = _spec(transformer, key, owner)
        column = frame.iloc[:, j]
        if spec.is_numeric:
            parts.append(_numeric_part(transformer, spec, _frame_numbers(spec, column)))
        else:
            parts.append(_category_part(transformer, spec, _category_slots(spec, column)))
    return parts


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(spec: ColumnSpec, value: Any) -> float:
    """A finite number for numeric column ``spec`` (an integer for an integer column)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise DataValidationError(
            f"conditions give numeric column {spec.name!r} the value {value!r} (a "
            f"{type(value).__name__}); expected a finite number, or a (low, high) range."
        )
    number = float(value)
    if not math.isfinite(number):
        raise DataValidationError(
            f"conditions give numeric column {spec.name!r} the value {value!r}; expected a "
            "finite number (use a (low, high) range with None for an open end)."
        )
    if spec.kind == "integer" and not number.is_integer():
        raise DataValidationError(
            f"conditions give integer column {spec.name!r} the value {value!r}; expected an "
            "integer (or a (low, high) range)."
        )
    return number


def _frame_numbers(spec: ColumnSpec, column: pd.Series) -> np.ndarray:
    """Per-row values of numeric column ``spec``: float64, NaN where free."""
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        if column.map(lambda v: isinstance(v, tuple)).any():
            raise DataValidationError(
                "conditions as a DataFrame hold one value per cell (NaN for no condition), "
                f"but column {spec.name!r} holds a tuple; give a range (low, high) in a dict "
                "instead."
            )
        raise DataValidationError(
            f"conditions give numeric column {spec.name!r} values of type {inferred!r} "
            f"(dtype {column.dtype}); expected numbers, NaN for no condition."
        )
    values = pd.to_numeric(column).to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isinf(values) | (
        (spec.kind == "integer") & ~np.isnan(values) & (values != np.round(values))
    )
    if bad.any():
        expected = "integers" if spec.kind == "integer" else "finite numbers"
        raise DataValidationError(
            f"conditions give {spec.kind} column {spec.name!r} the values "
            f"{pd.unique(values[bad])[:_MAX_SHOWN].tolist()}; expected {expected}, NaN for no "
            "condition."
        )
    return values


def _category_slots(spec: ColumnSpec, values: pd.Series) -> np.ndarray:
    """Slot of each value of categorical column ``spec``, -1 for a missing value (no
    condition); an error for a value not seen at fit time."""
    codes, distinct = pd.factorize(values)  # missing values get code -1
    of_distinct = pd.Index(list(spec.categories), dtype=object).get_indexer(distinct)
    slots = np.append(of_distinct, -1)[codes]  # code -1 (missing) reads the appended -1
    unseen = (codes >= 0) & (slots < 0)
    if unseen.any():
        shown = [_scalar(v) for v in distinct[of_distinct < 0][:_MAX_SHOWN]]
        raise DataValidationError(
            f"conditions give column {spec.name!r} the value(s) {shown}, not seen at fit "
            f"time, so no sampled row can have them; expected one of "
            f"{list(spec.categories)[: 4 * _MAX_SHOWN]}."
        )
    return slots.astype(np.int64)


def _range_ends(spec: ColumnSpec, value: tuple) -> tuple[float, float]:
    """(low, high) of a range condition, -inf/inf for open ends."""
    if not spec.is_numeric:
        raise DataValidationError(
            f"conditions give categorical column {spec.name!r} the range {value!r}; ranges "
            f"apply to numeric columns only. Expected one of {list(spec.categories)[:20]}."
        )
    wrong = len(value) != 2 or any(
        end is not None and (isinstance(end, bool | np.bool_) or not isinstance(end, Real))
        for end in value
    )
    if wrong or any(end is not None and math.isnan(float(end)) for end in value):
        raise DataValidationError(
            f"conditions give column {spec.name!r} the range {value!r}; expected a tuple "
            "(low, high) of two numbers, None for an open end."
        )
    low = -math.inf if value[0] is None else float(value[0])
    high = math.inf if value[1] is None else float(value[1])
    if low > high:
        raise DataValidationError(
            f"conditions give column {spec.name!r} the range {value!r}, whose low end is "
            "above its high end; expected low <= high."
        )
    return low, high


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------
def _category_part(transformer: Any, spec: ColumnSpec, slots: np.ndarray) -> _Part:
    span = _span_index(transformer.layout_)[spec.name]["categorical"]
    block = np.zeros((len(slots), span.width))
    given = slots >= 0
    block[np.flatnonzero(given), slots[given]] = 1.0
    block[~given] = np.nan
    cells = list(range(span.start, span.stop))
    return _Part(cells, block, category=ForcedCategory(spec.name, span, slots))


def _numeric_part(transformer: Any, spec: ColumnSpec, values: np.ndarray) -> _Part:
    """Value cell (and mode one-hot) and "observed" flag of rows given a value."""
    spans = _span_index(transformer.layout_)[spec.name]
    free = np.isnan(values)
    cells, columns = [spans["continuous"].start], []
    if transformer.numeric_encoding_ == "mode":
        offsets, modes = encode_modes(values[:, None], [transformer.numeric_params_[spec.name]])
        columns.append(offsets[:, 0])
        onehot = np.eye(spans["mode"].width)[modes[:, 0]]
        columns.extend(onehot.T)
        cells.extend(range(spans["mode"].start, spans["mode"].stop))
    else:
        shift, scale = _affine(transformer, spec)
        columns.append((values - shift) / scale)
    if "missing" in spans:
        cells.append(spans["missing"].start)
        columns.append(np.zeros(len(values)))
    block = np.column_stack(columns)
    block[free] = np.nan
    return _Part(cells, block, number=NumericValues(spec.name, values))


def _range_part(
    transformer: Any, spec: ColumnSpec, ends: tuple[float, float], n_rows: int
) -> _Part:
    low, high = ends
    if low == high:  # a point: a value condition
        return _numeric_part(transformer, spec, np.full(n_rows, _number(spec, low)))
    decoded = _decoded_bounds(spec, low, high)
    spans = _span_index(transformer.layout_)[spec.name]
    encoded: tuple[float | None, float | None] = (None, None)
    if transformer.numeric_encoding_ != "mode":
        shift, scale = _affine(transformer, spec)
        continuous = _continuous_bounds(spec, *decoded)
        encoded = ((continuous[0] - shift) / scale, (continuous[1] - shift) / scale)
    bounds = NumericRange(spec.name, spans["continuous"].start, *decoded, *encoded)
    cells = [spans["missing"].start] if "missing" in spans else []
    return _Part(cells, np.zeros((n_rows, len(cells))), range=bounds)


def _decoded_bounds(spec: ColumnSpec, low: float, high: float) -> tuple[float, float]:
    """Bounds on decoded values: for an integer column, the integers in [low, high],
    which must meet the fitted range (decoding clips integers to it)."""
    if spec.kind != "integer":
        return low, high
    low = float(math.ceil(low)) if math.isfinite(low) else low
    high = float(math.floor(high)) if math.isfinite(high) else high
    assert spec.minimum is not None and spec.maximum is not None
    if low > high or low > spec.maximum or high < spec.minimum:
        raise DataValidationError(
            f"conditions restrict integer column {spec.name!r} to [{low:g}, {high:g}], where "
            f"the model can produce no integer: its values lie in [{spec.minimum:g}, "
            f"{spec.maximum:g}] (decoded integers are clipped to the fitted range)."
        )
    return low, high


def _continuous_bounds(spec: ColumnSpec, low: float, high: float) -> tuple[float, float]:
    """The continuous values that decode into [low, high]: an integer column is rounded
    (half a unit either side) and clipped to its fitted range (open at the extremes)."""
    if spec.kind != "integer":
        return low, high
    assert spec.minimum is not None and spec.maximum is not None
    return (
        -math.inf if low <= spec.minimum else low - 0.5,
        math.inf if high >= spec.maximum else high + 0.5,
    )


def _affine(transformer: Any, spec: ColumnSpec) -> tuple[float, float]:
    """(shift, scale) of an affine numeric encoding: encoded = (x - shift) / scale."""
    if transformer.numeric_encoding_ == "identity":
        return 0.0, 1.0
    params = transformer.numeric_params_[spec.name]
    return float(params["mean"]), float(params["std"])


def _assemble(parts: list[_Part], n_rows: int, shared: bool) -> EncodedConditions:
    cells = [cell for part in parts for cell in part.cells]
    values = [part.values for part in parts if part.values.shape[1]]
    return EncodedConditions(
        n_rows=n_rows,
        cells=np.asarray(cells, dtype=np.int64),
        values=np.column_stack(values) if values else np.zeros((n_rows, 0)),
        categories=tuple(p.category for p in parts if p.category is not None),
        numbers=tuple(p.number for p in parts if p.number is not None),
        ranges=tuple(p.range for p in parts if p.range is not None),
        shared=shared,
    )


# ---------------------------------------------------------------------------------------
# Decoded output
# ---------------------------------------------------------------------------------------
def _column_values(X: Any, column: Hashable) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        return X[column].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    assert isinstance(column, Integral)
    return np.array(X[:, column], dtype=np.float64)


def _set_column(X: Any, spec: ColumnSpec, values: np.ndarray) -> None:
    if isinstance(X, pd.DataFrame):
        X[spec.name] = pd.Series(values, index=X.index).astype(spec.dtype)
    else:
        X[:, spec.name] = values

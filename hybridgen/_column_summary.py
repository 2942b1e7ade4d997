"""What a pass over a column's values learns, in a form that merges across chunks.

A :class:`ColumnSummary` holds everything the data layer infers about one column at
fit time (its kind and dtype, its categories, how many values are missing, the range,
mean and spread of its numbers) as quantities that combine: the summary of two chunks
is :func:`merge_summaries` of theirs, so a table read chunk by chunk, or sharded over
processes, gets the same columns as the whole table in memory. :func:`column_spec`
turns the merged summary into the :class:`~hybridgen._columns.ColumnSpec` models read.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from . import _serialization
from ._columns import (
    NUMERIC_KINDS,
    ColumnSpec,
    _categories,
    _isna,
    _natural_kind,
    _numeric_values,
)
from .exceptions import DataValidationError

__all__ = ["ColumnSummary", "column_spec", "merge_summaries", "summarize"]


@_serialization.register
@dataclass(frozen=True)
class ColumnSummary:
    """Mergeable facts about one column (see the module docstring).

    ``kind`` is None when every value seen was missing and no kind was declared (such a
    chunk says nothing about the column's kind, though its dtype counts). ``count``,
    ``mean`` and ``m2`` describe the observed numbers (``m2`` is the sum of squared
    deviations from ``mean``).
    """

    name: Hashable
    kind: str | None
    dtype: str
    n: int
    n_missing: int
    categories: tuple = ()
    category_counts: tuple = ()  # how often each category occurred, aligned with categories
    category_dtype: bool = False
    ordered: bool = False
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    declared: bool = False  # the kind was given (column_kinds), not inferred


def summarize(name: Hashable, column: pd.Series | np.ndarray, kind: str | None) -> ColumnSummary:
    """The summary of one chunk of a column; ``kind`` overrides the inferred kind.

    Raises
    ------
    DataValidationError
        Infinite numbers, mixed types, values a declared kind cannot hold.
    """
    missing = _isna(column)
    n, n_missing = int(missing.size), int(missing.sum())
    dtype = str(column.dtype)
    declared = kind is not None
    if n_missing == n:
        return ColumnSummary(name, kind, dtype, n, n_missing, declared=declared)
    kind = kind or _natural_kind(name, column)
    common = ColumnSummary(name, kind, dtype, n, n_missing, declared=declared)
    if kind in NUMERIC_KINDS:
        observed = _numeric_values(name, column)[~missing]
        mean = float(observed.mean())
        return replace(
            common,
            count=len(observed),
            mean=mean,
            m2=float(np.sum((observed - mean) ** 2)),
            minimum=float(observed.min()),
            maximum=float(observed.max()),
        )
    categories, ordered = _categories(name, column, missing, kind)
    is_category = isinstance(getattr(column, "dtype", None), pd.CategoricalDtype)
    codes = pd.Index(list(categories), dtype=object).get_indexer(np.asarray(column)[~missing])
    counts = tuple(int(c) for c in np.bincount(codes, minlength=len(categories)))
    return replace(
        common,
        categories=categories,
        category_counts=counts,
        category_dtype=is_category,
        ordered=ordered,
    )


def _sorted_if_possible(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return values  # unsortable values keep their order of first appearance


def _common_dtype(kind: str, a: str, b: str) -> str:
    """The dtype a column has when chunks of dtypes ``a`` and ``b`` are concatenated."""
    if a == b:
        return a
    if kind in NUMERIC_KINDS:
        try:
            return str(np.result_type(np.dtype(a), np.dtype(b)))
        except TypeError:
            return "float64"
    return "object"


def _holding_missing(summary: ColumnSummary) -> ColumnSummary:
    """The dtype once the column has missing values: numpy integers become float64 and
    numpy booleans object, as pandas does when it concatenates such chunks. The kind
    stays (integers keep being rounded on decoding)."""
    if summary.n_missing == 0:
        return summary
    if summary.dtype == "bool":
        return replace(summary, dtype="object")
    if _is_numpy_int(summary.dtype):
        return replace(summary, dtype="float64")
    return summary


def _is_numpy_int(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in "iu"
    except TypeError:
        return False  # a pandas extension dtype (Int64...) holds missing values itself


def _merged_kind(a: ColumnSummary, b: ColumnSummary, where: str) -> str | None:
    if a.kind is None or b.kind is None or a.kind == b.kind:
        return a.kind or b.kind
    if {a.kind, b.kind} == {"integer", "float"}:
        return "float"
    raise DataValidationError(
        f"Column {a.name!r} holds {a.kind} values in earlier chunks but {b.kind} values in "
        f"{where}; expected one kind per column. Declare its kind (column_kinds) or convert "
        "the column before fitting."
    )


def merge_summaries(a: ColumnSummary, b: ColumnSummary, where: str = "a later chunk"):
    """The summary of the rows of ``a`` followed by those of ``b``.

    ``where`` names ``b`` in error messages (e.g. "chunk 3").

    Raises
    ------
    DataValidationError
        When the two chunks hold different kinds of values (numbers and categories).
    """
    kind = _merged_kind(a, b, where)
    if a.kind is None or b.kind is None:
        known = b if a.kind is None else a
        dtype = _common_dtype(str(kind), a.dtype, b.dtype)
        categories, counts = known.categories, known.category_counts
        category_dtype = known.category_dtype and dtype == known.dtype
        ordered = known.ordered and category_dtype
    elif kind in NUMERIC_KINDS:
        dtype = _common_dtype(kind, a.dtype, b.dtype)
        categories, counts, category_dtype, ordered = (), (), False, False
    else:
        tally = dict(zip(a.categories, a.category_counts, strict=True))
        for category, count in zip(b.categories, b.category_counts, strict=True):
            tally[category] = tally.get(category, 0) + count
        if a.category_dtype and b.category_dtype and a.categories == b.categories:
            dtype, categories, category_dtype, ordered = a.dtype, a.categories, True, a.ordered
        else:
            dtype = _common_dtype(str(kind), a.dtype, b.dtype)
            dtype = "object" if "category" in (a.dtype, b.dtype) else dtype
            categories = tuple(_sorted_if_possible(list(tally)))
            category_dtype, ordered = False, False
        counts = tuple(tally[category] for category in categories)
    count = a.count + b.count
    mean, m2 = a.mean, a.m2
    if b.count:
        delta = b.mean - a.mean
        mean = a.mean + delta * b.count / count
        m2 = a.m2 + b.m2 + delta**2 * a.count * b.count / count
    merged = ColumnSummary(
        a.name,
        kind,
        dtype,
        a.n + b.n,
        a.n_missing + b.n_missing,
        categories,
        counts,
        category_dtype,
        ordered,
        count,
        mean,
        m2,
        _extreme(min, a.minimum, b.minimum),
        _extreme(max, a.maximum, b.maximum),
        a.declared or b.declared,
    )
    merged = _holding_missing(merged)
    if merged.kind == "integer" and not merged.declared and not _is_integer(merged.dtype):
        # integers that arrive as floats (NaN in some chunk) are inferred as float, as
        # they are in the concatenated table
        merged = replace(merged, kind="float")
    return merged


def _is_integer(dtype: str) -> bool:
    try:
        return pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(dtype))
    except TypeError:
        return False


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return pick(a, b)


def column_spec(summary: ColumnSummary) -> ColumnSpec:
    """The :class:`ColumnSpec` of a column from the summary of all its rows.

    Raises
    ------
    DataValidationError
        When no value of the column was observed.
    """
    if summary.kind is None or (summary.kind in NUMERIC_KINDS and summary.count == 0):
        raise DataValidationError(
            f"Column {summary.name!r} has no observed value (all {summary.n_missing} are "
            "missing); drop it or fill it before fitting."
        )
    return ColumnSpec(
        name=summary.name,
        kind=summary.kind,
        dtype=summary.dtype,
        categories=summary.categories,
        ordered=summary.ordered,
        has_missing=summary.n_missing > 0,
        missing_rate=summary.n_missing / summary.n,
        minimum=summary.minimum,
        maximum=summary.maximum,
    )


def standard_params(summary: ColumnSummary) -> dict[str, np.float64]:
    """``{"mean", "std"}`` of the observed numbers (a zero spread becomes 1)."""
    std = math.sqrt(summary.m2 / summary.count)
    return {"mean": np.float64(summary.mean), "std": np.float64(std if std > 0 else 1.0)}


@_serialization.register
@dataclass(frozen=True)
class TableSummary:
    """The summaries of every column of a table (or of some of its rows).

    ``input_kind`` is "frame" or "array"; ``names`` the column labels (positions for an
    array); ``feature_names`` the str labels of a DataFrame, else None.
    """

    input_kind: str
    names: tuple
    feature_names: np.ndarray | None
    columns: tuple[ColumnSummary, ...]


def _shown(summary: TableSummary) -> str:
    if summary.input_kind == "frame":
        return f"a DataFrame with columns {list(summary.names)[:8]}"
    return f"an array of {len(summary.names)} columns"


def merge_tables(a: TableSummary, b: TableSummary, where: str = "a later chunk") -> TableSummary:
    """The summary of the rows of ``a`` followed by those of ``b``.

    Raises
    ------
    DataValidationError
        When ``b`` has other columns, or is an array where ``a`` was a DataFrame.
    """
    if a.input_kind != b.input_kind or list(a.names) != list(b.names):
        raise DataValidationError(
            f"{where} is {_shown(b)}, but the earlier chunks were {_shown(a)}; every chunk "
            "must have the same columns in the same order."
        )
    columns = tuple(merge_summaries(x, y, where) for x, y in zip(a.columns, b.columns, strict=True))
    return replace(a, columns=columns)

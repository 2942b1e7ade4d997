"""Data files of the command line: read and write by extension.

``.csv``, ``.parquet`` (needs ``pyarrow``) and ``.npy`` (a numeric array, or images
of shape (n, H, W) or (n, C, H, W)). Problems are raised as :class:`_CommandError`,
which ``hybridgen.cli`` prints as one line: exit code 2 for a missing file or an
unsupported extension, 1 for a file that cannot be read or written.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}


class _CommandError(Exception):
    """A failure to report as one line; ``exit_code`` is 2 for usage errors, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _file_kind(path: str, role: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        known = ", ".join(_EXTENSIONS)
        raise _CommandError(f"{role} {path!r} has an unsupported extension; use one of {known}")
    return _EXTENSIONS[suffix]


def _require_pyarrow(action: str) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise _CommandError(
            f"{action} Parquet files needs the 'pyarrow' package; install it with "
            "'pip install pyarrow'",
            1,
        )


def _read_data(path: str, role: str = "DATA") -> pd.DataFrame | np.ndarray:
    """A table (CSV, Parquet) or an array or images (.npy) from ``path``."""
    if not Path(path).is_file():
        raise _CommandError(f"{role} file {path!r} does not exist")
    kind = _file_kind(path, role)
    if kind == "parquet":
        _require_pyarrow("reading")
    logger.info("reading %s", path)
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "parquet":
            return pd.read_parquet(path, engine="pyarrow")
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # pandas, pyarrow and numpy each raise their own types
        raise _CommandError(f"cannot read {path!r} as {kind}: {_one_line(exc)}", 1) from exc


def _read_labels(path: str, role: str = "--labels") -> np.ndarray:
    """One label per row from ``path``: a 1-D .npy array, or a CSV or Parquet table
    (with a header) of one column."""
    data = _read_data(path, role)
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise _CommandError(
                f"{role} {path!r} must have one column of labels; it has {data.shape[1]} "
                f"({', '.join(map(str, data.columns))})",
                1,
            )
        data = data.iloc[:, 0].to_numpy()
    labels = np.asarray(data)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise _CommandError(
            f"{role} {path!r} must hold one label per row (shape (n,)); got shape {labels.shape}",
            1,
        )
    # strings from a table arrive as objects; as fixed-width text they fingerprint stably
    return labels.astype(str) if labels.dtype == object else labels


def _check_output(path: str | None, *, images: bool = False) -> None:
    """Fail before any work when ``path`` cannot receive the output."""
    if path is None:
        if images:
            raise _CommandError("images cannot be written as CSV; pass -o FILE.npy")
        return
    kind = _file_kind(path, "output")
    if images and kind != "npy":
        raise _CommandError(f"images can only be written to .npy, not {path!r}")
    if kind == "parquet":
        _require_pyarrow("writing")
    _check_folder(path)


def _check_folder(path: str) -> None:
    if not Path(path).resolve().parent.is_dir():
        raise _CommandError(f"the folder of output {path!r} does not exist")


def _as_frame(data: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    array = np.asarray(data)
    if array.ndim == 1:
        array = array[:, None]
    return pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])


def _write_data(data: pd.DataFrame | np.ndarray, path: str | None) -> None:
    """Write a table or array to ``path`` by extension, or as CSV to stdout."""
    if path is None:
        _as_frame(data).to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    kind = _file_kind(path, "output")
    logger.info("writing %s", path)
    try:
        if kind == "csv":
            _as_frame(data).to_csv(path, index=False)
        elif kind == "parquet":
            _as_frame(data).to_parquet(path, index=False, engine="pyarrow")
        else:
            array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
            if array.dtype.kind not in "biuf":
                raise _CommandError(
                    f"a table with non-numeric columns cannot be written to {path!r}; use "
                    ".csv or .parquet"
                )
            np.save(path, array, allow_pickle=False)
    except OSError as exc:
        raise _CommandError(f"cannot write {path!r}: {_one_line(exc)}", 1) from exc

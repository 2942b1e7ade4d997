"""Tables too large for memory: rows read chunk by chunk, as often as a fit needs.

:class:`Chunks` wraps a Parquet or CSV file (or a folder of Parquet files), a list of
DataFrames or arrays, or a function that returns a fresh iterator of chunks, and can
be read again and again: ``GaussianMixture.fit`` makes one pass to learn the columns
and one pass per EM iteration, holding one chunk at a time. The other estimators read
a :class:`Chunks` whole into memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .distributed import rank as current_rank
from .distributed import world_size as current_world
from .exceptions import DataValidationError, InvalidParameterError

__all__ = ["Chunks", "chunk_source"]

logger = logging.getLogger(__name__)

_PARQUET = (".parquet", ".pq")


class Chunks:
    """A re-readable source of row chunks (DataFrames or 2-D arrays).

    Parameters
    ----------
    source : str, path-like, sequence of DataFrames or arrays, or callable
        * a ``.parquet`` file, read ``chunk_size`` rows at a time (needs ``pyarrow``),
          or a folder of them, read file after file in name order;
        * a ``.csv`` file (compressed ones too), read with ``pandas.read_csv``;
        * a list or tuple of DataFrames or 2-D arrays, one chunk each;
        * a callable taking no argument that returns a new iterable of chunks each
          time it is called (a generator function, a database cursor factory...).
    chunk_size : int, default=100_000
        Rows per chunk read from a file (Parquet and CSV); each chunk of a sequence or
        callable is used as it is.
    columns : list of str or None, default=None
        Read only these columns of a file.
    rank, world_size : int, default=0 and 1
        Keep only chunks ``rank``, ``rank + world_size``, ... (the shard of one process
        of ``world_size``; see :meth:`shard`).

    Notes
    -----
    Memory is bounded by one chunk (plus what a model keeps per chunk). A one-pass
    iterator cannot be read twice: wrap the function that makes it instead, e.g.
    ``Chunks(lambda: pd.read_sql(query, connection, chunksize=100_000))``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from hybridgen import Chunks, GaussianMixture
    >>> parts = [pd.DataFrame({"x": np.arange(3.0) + i}) for i in range(2)]
    >>> [len(chunk) for chunk in Chunks(parts)]
    [3, 3]
    >>> gm = GaussianMixture(random_state=0, device="cpu").fit(Chunks(parts))
    >>> round(float(gm.means_[0, 0]), 6)  # standardised units: the mean of the 6 rows is 0
    0.0
    """

    def __init__(
        self,
        source: Any,
        *,
        chunk_size: int = 100_000,
        columns: Sequence[str] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
            raise InvalidParameterError(
                f"The 'chunk_size' parameter of Chunks must be an int in the range [1, inf). "
                f"Got {chunk_size!r} instead."
            )
        if not (isinstance(world_size, int) and world_size >= 1 and 0 <= rank < world_size):
            raise InvalidParameterError(
                f"Chunks needs 0 <= rank < world_size; got rank={rank!r}, "
                f"world_size={world_size!r}."
            )
        self.source = source
        self.chunk_size = int(chunk_size)
        self.columns = None if columns is None else list(columns)
        self.rank = rank
        self.world_size = world_size
        self._reader = _reader(source, self.chunk_size, self.columns)

    def shard(self, rank: int | None = None, world_size: int | None = None) -> Chunks:
        """The chunks of one process among ``world_size``: every ``world_size``-th chunk
        starting at ``rank``. Both default to this process's place in the initialised
        ``torch.distributed`` process group (rank 0 of 1 without one)."""
        return Chunks(
            self.source,
            chunk_size=self.chunk_size,
            columns=self.columns,
            rank=current_rank() if rank is None else rank,
            world_size=current_world() if world_size is None else world_size,
        )

    def __iter__(self) -> Iterator[pd.DataFrame | np.ndarray]:
        chunks = islice(self._reader(), self.rank, None, self.world_size)
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, pd.DataFrame | np.ndarray):
                raise DataValidationError(
                    f"Chunk {i} of {self!r} is a {type(chunk).__name__}; expected a "
                    "DataFrame or a 2-D numpy array."
                )
            if len(chunk):
                yield chunk

    def first(self) -> pd.DataFrame | np.ndarray:
        """The first chunk (the file is closed again).

        Raises
        ------
        DataValidationError
            When there are no rows.
        """
        chunks = iter(self)
        try:
            return next(chunks)
        except StopIteration:
            raise DataValidationError(f"{self!r} holds no rows.") from None
        finally:
            chunks.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        shown = self.source if isinstance(self.source, str | os.PathLike) else type(self.source)
        shard = f", rank={self.rank}, world_size={self.world_size}" if self.world_size > 1 else ""
        return f"Chunks({shown!r}{shard})"

    def read_all(self) -> pd.DataFrame | np.ndarray:
        """Every chunk concatenated in memory (what estimators that do not stream fit on).

        Raises
        ------
        DataValidationError
            When there are no rows.
        """
        parts = list(self)
        if not parts:
            raise DataValidationError(f"{self!r} holds no rows.")
        if all(isinstance(p, pd.DataFrame) for p in parts):
            return pd.concat(parts, ignore_index=True)
        return np.concatenate([np.asarray(p) for p in parts])


def _reader(source: Any, chunk_size: int, columns: list[str] | None) -> Callable[[], Iterable[Any]]:
    if isinstance(source, str | os.PathLike):
        return _file_reader(Path(source), chunk_size, columns)
    if isinstance(source, list | tuple):
        return lambda: source
    if callable(source):
        return source
    raise DataValidationError(
        f"Chunks reads a Parquet or CSV path, a list of DataFrames or arrays, or a "
        f"function returning an iterable of chunks; got a {type(source).__name__}."
    )


def _file_reader(
    path: Path, chunk_size: int, columns: list[str] | None
) -> Callable[[], Iterable[Any]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in _PARQUET)
        if not files:
            raise DataValidationError(f"Folder {str(path)!r} holds no .parquet file.")
        return lambda: (c for f in files for c in _parquet_chunks(f, chunk_size, columns))
    if not path.exists():
        raise DataValidationError(f"No such file: {str(path)!r}.")
    if path.suffix in _PARQUET:
        return lambda: _parquet_chunks(path, chunk_size, columns)
    if ".csv" in path.suffixes:
        return lambda: _csv_chunks(path, chunk_size, columns)
    raise DataValidationError(
        f"Cannot tell how to read {str(path)!r}: expected a .parquet or .csv file (or a "
        "folder of .parquet files)."
    )


def _parquet_chunks(path: Path, chunk_size: int, columns: list[str] | None) -> Iterator[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is installed with the dev extras
        raise DataValidationError(
            f"Reading {str(path)!r} needs pyarrow: pip install 'hybridgen[parquet]'."
        ) from None
    # pre_buffer=False: pyarrow would otherwise buffer, and keep, every row group read
    # (1.5 GB after one pass over a 1.4 GB file), not one chunk's worth
    with pq.ParquetFile(path, pre_buffer=False) as handle:
        for batch in handle.iter_batches(batch_size=chunk_size, columns=columns):
            yield batch.to_pandas()


def _csv_chunks(path: Path, chunk_size: int, columns: list[str] | None) -> Iterator[Any]:
    with pd.read_csv(path, chunksize=chunk_size, usecols=columns) as reader:
        yield from reader


def chunk_source(X: Any) -> Chunks | None:
    """``X`` as a :class:`Chunks` when it is one (a path, a :class:`Chunks`, or a list of
    DataFrames), None for data in memory.

    Raises
    ------
    DataValidationError
        For a one-pass iterator or generator, which a fit cannot read twice.
    """
    if isinstance(X, Chunks):
        return X
    if isinstance(X, str | os.PathLike):
        return Chunks(X)
    if isinstance(X, list | tuple) and X and all(isinstance(c, pd.DataFrame) for c in X):
        return Chunks(X)
    if isinstance(X, Iterator):
        raise DataValidationError(
            f"X is a one-pass {type(X).__name__}, which cannot be read more than once; pass "
            "Chunks(function) with a function that returns a new iterator, a list of "
            "chunks, or a file path, or feed the chunks one by one to partial_fit."
        )
    return None

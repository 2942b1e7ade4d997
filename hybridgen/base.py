"""The contract every hybridgen estimator keeps.

:class:`GenerativeModel` owns what is common to all estimators: turning user data
into the encoded matrix and back (through :mod:`hybridgen.transform`), the fitted
check, random generators, device resolution, ``sample``/``score``/``score_samples``
and ``save``/``load``. A subclass owns the model: it implements ``fit`` and three
hooks on encoded data:

``_transformer_params(X)``
    how numeric columns of ``X`` are encoded for this model (``{"numeric": "identity"}``...).
``_log_likelihood(Z)``
    log-likelihood of the rows encoded as ``Z`` in the ORIGINAL data space, shape
    (n_samples,): a model of a density over encoded values adds
    ``transformer_.log_abs_det_jacobian(Z)``.
    (A model whose likelihood also needs the raw rows, as the VAE's with condition
    columns does, overrides ``_score_rows(X)`` instead.)
``_sample_encoded(n_samples, generator)``
    encoded rows drawn from the model, shape (n_samples, n_encoded).
``_sample_encoded_given(n_samples, conditions, generator)``
    encoded rows drawn from the model's conditional given an
    :class:`~hybridgen._conditional.EncodedConditions` (``sample(conditions=...)``,
    already checked against the fitted layout), shape (n_samples, n_encoded).
``_sample_encoded_for_labels(labels, generator)``
    images fitted with class labels ``y``: encoded images drawn given each row's class
    (indices into ``classes_``, shape (n_samples,)), shape (n_samples, n_encoded).

Images may be fitted with labels, ``fit(X, y)``: :meth:`GenerativeModel._fit_labels`
records ``classes_`` and the model learns p(x | y) and p(y); ``sample(conditions=label)``
draws images of that class, and ``score_samples(X)`` stays log p(x), the labels summed
out. For tables and arrays ``y`` is ignored, as scikit-learn's density estimators do:
put the label in the table and condition on its column.

What ``score`` means
--------------------
``score_samples(X)[i]`` is log p(x_i) in nats, in the ORIGINAL data space of row i:

* numeric (float and integer) cells contribute a log-density in the column's own
  units: the model's density of the encoded value plus the log-Jacobian of the
  encoding (an affine standardisation adds ``-log(std)``; raw values add nothing);
* categorical and boolean cells contribute a log-probability;
* a missing cell contributes the log-probability that the cell is missing, and its
  value is marginalised out;
* a category never seen at fit time has probability zero, so the row scores -inf
  (with an :class:`~hybridgen.exceptions.UnseenCategoryWarning`);
* images: a density model of pixels (GaussianMixture) models them on the [0, 1]
  scale and reports the density per original unit (for uint8, per 0..255 step:
  ``-D log 255`` is added). It is fitted on dequantised pixels (each uint8 value
  spread uniformly over its bin, :func:`hybridgen.transform.dequantize`), so the
  density at a pixel value times the bin width approximates the probability of that
  integer value rather than growing without bound on constant pixels; a discrete
  pixel model (the VAE's Bernoulli or discretised logistic) gives that probability
  directly. ``bits_per_dim`` converts a log-likelihood to bits per
  dimension.

``score(X)`` is the mean of ``score_samples(X)``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from numbers import Integral
from os import PathLike
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state

from . import _serialization
from ._column_summary import merge_tables
from ._conditional import EncodedConditions, encode_conditions, encode_labels, impose
from ._validation import Interval, validate_params
from .chunks import Chunks, chunk_source
from .distributed import (
    all_gather_objects,
    broadcast_object,
    is_distributed,
    on_every_process,
    world_size,
)
from .distributed import rank as distributed_rank
from .exceptions import (
    DataValidationError,
    HybridgenWarning,
    InvalidParameterError,
    ModelFormatError,
    NotFittedError,
)
from .transform import ImageTransformer, TabularTransformer, make_transformer

__all__ = ["GenerativeModel", "bits_per_dim", "load", "resolve_device", "torch_generator"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "hybridgen"
FORMAT_VERSION = 1
#: rows of numeric values (over all processes) the mode-specific normalisation is fitted
#: on when a table is sharded over processes
MODE_SAMPLE_ROWS = 100_000

_Model = TypeVar("_Model", bound="GenerativeModel")


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
    ``"cuda:1"`` or a :class:`torch.device` into a usable device.

    Raises
    ------
    InvalidParameterError
        When the string is not a device or CUDA is requested but not available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidParameterError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'. Got {device!r} "
            "instead."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or 'cpu'."
        )
    return resolved


def torch_generator(rng: np.random.RandomState, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from ``rng`` (global state is never touched)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.randint(0, 2**62, dtype=np.int64)))
    return generator


def bits_per_dim(log_likelihood: float | np.ndarray, n_dims: int) -> float | np.ndarray:
    """Convert a log-likelihood in nats of an ``n_dims``-dimensional row to bits per dimension
    (negated, so lower is better): ``-log_likelihood / (n_dims * log 2)``."""
    return -np.asarray(log_likelihood) / (n_dims * math.log(2.0))


class GenerativeModel(DensityMixin, BaseEstimator):
    """Base class of hybridgen's estimators; see the module docstring for the contract."""

    _parameter_constraints: dict[str, list[Any]] = {}
    classes_: np.ndarray  # images fitted with labels only
    #: small settings for smoke tests and the demo (a few seconds on a CPU)
    _quick_params: dict[str, Any] = {}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN is a missing value, modelled rather than refused
        return tags

    # -- hooks for subclasses ------------------------------------------------------------
    def _transformer_params(self, X: Any) -> dict[str, Any]:
        return {"numeric": "identity"}

    def _log_likelihood(self, Z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_encoded(
        self, n_samples: int, generator: torch.Generator
    ) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_encoded_given(
        self, n_samples: int, conditions: EncodedConditions, generator: torch.Generator
    ) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_encoded_for_labels(
        self, labels: np.ndarray, generator: torch.Generator
    ) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared steps used by ``fit`` ------------------------------------------------------
    def _validate_params(self) -> None:
        validate_params(self)

    def _fit_transformer(self, X: Any) -> np.ndarray:
        """Fit the data layer on ``X``, record the input attributes, return encoded ``X``.

        In a process group (:mod:`hybridgen.distributed`) ``X`` is this process's shard
        of a table, and the columns are learnt from every shard's summary."""
        transformer = make_transformer(X, **self._transformer_params(X))
        if is_distributed() and isinstance(transformer, TabularTransformer):

            def local() -> tuple[Any, dict[Any, np.ndarray] | None]:
                values = None
                if transformer.numeric == "mode":  # the mode mixtures see every shard
                    values = transformer.numeric_sample(X, MODE_SAMPLE_ROWS // world_size())
                return transformer.summarize(X), values

            summary, values = on_every_process(local)
            self._fit_summaries(transformer, [summary], values)
        else:
            self._set_transformer(transformer.fit(X))
        return self.transformer_.transform(X, owner=type(self).__name__)

    def _fit_transformer_on_chunks(self, chunks: Chunks) -> None:
        """Fit the data layer with one pass over ``chunks`` (every process's, in a
        process group), as :meth:`_fit_transformer` would on all the rows at once."""

        def local() -> tuple[TabularTransformer, list[Any]]:
            summaries = []
            transformer = None
            for i, chunk in enumerate(chunks):
                if isinstance(chunk, np.ndarray) and chunk.ndim > 2:
                    raise DataValidationError(
                        f"Chunk {i} holds images of shape {chunk.shape[1:]}; images are fitted "
                        "in memory, not in chunks. Pass the image array itself."
                    )
                if transformer is None:
                    transformer = TabularTransformer(**self._transformer_params(chunk))
                summaries.append(transformer.summarize(chunk))
            if transformer is None:  # every process needs rows (more processes than chunks?)
                raise DataValidationError(f"{chunks!r} holds no rows.")
            return transformer, summaries

        self._fit_summaries(*on_every_process(local))

    def _fit_summaries(
        self,
        transformer: TabularTransformer,
        summaries: list[Any],
        values: dict[Any, np.ndarray] | None = None,
    ) -> None:
        """Fit ``transformer`` from the summaries of chunks (and, for the mode encoding,
        a sample of numeric ``values``); in a process group, from every process's, all
        processes then holding rank 0's fitted transformer."""
        if is_distributed():  # every process's summaries, in rank order
            summaries = [s for shard in all_gather_objects(summaries) for s in shard]
            if values is not None:  # every numeric column's sample from every process
                shards = all_gather_objects(values)
                names = dict.fromkeys(k for shard in shards for k in shard)
                values = {k: np.concatenate([s[k] for s in shards if k in s]) for k in names}
        if not summaries:
            raise DataValidationError("No process holds any rows to fit on.")
        merged = summaries[0]
        for i, summary in enumerate(summaries[1:], start=1):
            where = f"part {i} (chunks counted over the processes in rank order)"
            merged = merge_tables(merged, summary, where if is_distributed() else f"chunk {i}")
        transformer.fit_summary(merged, values)
        if is_distributed():
            transformer = broadcast_object(transformer)
        self._set_transformer(transformer)

    def _set_transformer(self, transformer: TabularTransformer | ImageTransformer) -> None:
        self.transformer_ = transformer
        self.n_features_in_ = transformer.n_features_in_
        if transformer.feature_names_in_ is not None:
            self.feature_names_in_ = transformer.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _fit_labels(self, X: Any, y: Any) -> np.ndarray | None:
        """Images fitted with labels: record ``classes_`` and return each image's class
        index, shape (n_samples,). None (and no ``classes_``) for tables, arrays and
        images without labels; ``y`` is ignored for tables and arrays."""
        if hasattr(self, "classes_"):
            del self.classes_
        if y is None or self.transformer_.input_kind_ != "image":
            return None
        labels, classes = on_every_process(lambda: self._checked_labels(X, y))
        if is_distributed():  # the classes of every process's shard
            classes = np.unique(np.concatenate(all_gather_objects(classes)))
        self.classes_ = classes
        return np.searchsorted(classes, labels).astype(np.int64)

    def _checked_labels(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """The labels as an array, and their sorted distinct values."""
        labels = np.asarray(y)
        n = len(X)
        if labels.ndim != 1 or len(labels) != n:
            raise DataValidationError(
                f"y must hold one class label per image: expected shape ({n},), got {labels.shape}."
            )
        if pd.isna(labels).any():
            raise DataValidationError(
                f"y has {int(pd.isna(labels).sum())} missing label(s); every image needs a "
                "class label."
            )
        try:
            return labels, np.unique(labels)
        except TypeError:
            raise DataValidationError(
                "y mixes label types that cannot be ordered (e.g. numbers and strings); "
                "expected labels of one type."
            ) from None

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "auto"))

    def _rng(self, random_state: Any = None) -> np.random.RandomState:
        """The generator for one call: ``random_state`` if given, else the estimator's.

        None gives a generator seeded from the operating system, so that the global
        numpy state (which scikit-learn would draw from) is never touched.
        """
        seed = self.random_state if random_state is None else random_state  # type: ignore[attr-defined]
        return np.random.RandomState() if seed is None else check_random_state(seed)

    # -- fitted check ----------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "transformer_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _encode(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return self.transformer_.transform(X, owner=type(self).__name__)

    # -- the public contract ----------------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row in the original data space (nats).

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or images of shape
            (n_samples, H, W) or (n_samples, C, H, W)
            Data of the kind the model was fitted on.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            See the module docstring of :mod:`hybridgen.base` for exactly what is counted.
            ``X`` may be a :class:`~hybridgen.chunks.Chunks` (or a file path), scored
            chunk by chunk.
        """
        chunks = chunk_source(X)
        if chunks is not None:
            parts = [self._score_rows(chunk) for chunk in chunks]
            if not parts:
                raise DataValidationError(f"{chunks!r} holds no rows.")
            return np.concatenate(parts)
        return self._score_rows(X)

    def _score_rows(self, X: Any) -> np.ndarray:
        """``score_samples`` of rows in memory (override when the likelihood needs more
        than the encoded rows)."""
        return self._log_likelihood(self._encode(X))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row in the original data space (nats).

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features) or images
        y : ignored

        Returns
        -------
        score : float
            For a :class:`~hybridgen.chunks.Chunks` or a file path, the mean over all
            its rows, read one chunk at a time.
        """
        chunks = chunk_source(X)
        if chunks is None:
            return float(np.mean(self.score_samples(X)))
        total, n = 0.0, 0
        for chunk in chunks:
            scores = self._score_rows(chunk)
            total, n = total + float(np.sum(scores)), n + len(scores)
        if n == 0:
            raise DataValidationError(f"{chunks!r} holds no rows.")
        return total / n

    def sample(
        self, n_samples: int = 1, *, random_state: Any = None, conditions: Any = None
    ) -> Any:
        """Draw new data of the kind fitted, optionally under conditions.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState or None
            Seed for this draw; None uses the estimator's ``random_state`` (as
            scikit-learn does, so a fixed seed gives the same rows on every call).
        conditions : dict, DataFrame or None, default=None
            Values the drawn rows must take (tables and 2-D arrays; columns named as at
            fit time, integer positions for an array); the rows are drawn from the
            model's conditional distribution given them. Never modified.

            * ``{column: value}`` holds for every row: a category of a categorical or
              boolean column, a number of a numeric column (an integer for an integer
              column), or, for a numeric column, an inclusive range ``(low, high)``
              where either end may be None (open), e.g. ``{"age": (30, 40)}``.
            * A DataFrame of per-row conditions: some of the fitted columns, one row per
              drawn row (``n_samples`` must equal its length), NaN meaning "no
              condition" for that cell; row i of the result satisfies row i.

            * Images fitted with labels (``fit(X, y)``): a class label for every image,
              or a sequence of ``n_samples`` labels, one per image.

            Conditioned cells hold exactly the given value (in the column's dtype) and
            ranged cells lie inside their range. An unknown column, a category not seen
            at fit time, a malformed range or a condition the model gives probability
            zero raises :class:`~hybridgen.exceptions.DataValidationError`. Which
            conditions an estimator supports, and how exactly it meets them, is
            documented on the estimator.

        Returns
        -------
        X_new : DataFrame with the fitted columns and dtypes, ndarray of shape
            (n_samples, n_features), or images of the fitted layout and dtype.
        """
        self._check_fitted()
        if not Interval(Integral, 1, None, "left").is_satisfied_by(n_samples):
            raise InvalidParameterError(
                f"The 'n_samples' parameter of {type(self).__name__}.sample must be an int in "
                f"the range [1, inf). Got {n_samples!r} instead."
            )
        generator = torch_generator(self._rng(random_state), self._device())
        if conditions is not None and hasattr(self, "classes_"):
            labels = encode_labels(self.classes_, conditions, int(n_samples), type(self).__name__)
            return self.transformer_.inverse_transform(
                self._sample_encoded_for_labels(labels, generator)
            )
        return self._sample_rows(int(n_samples), conditions, generator)

    def _sample_rows(self, n_samples: int, conditions: Any, generator: torch.Generator) -> Any:
        """Decoded rows, drawn unconditionally (``conditions`` None) or meeting
        ``conditions``: checked and encoded once (:mod:`hybridgen._conditional`), drawn by
        ``_sample_encoded_given``, decoded, then given their exact values."""
        if conditions is None:
            return self.transformer_.inverse_transform(self._sample_encoded(n_samples, generator))
        encoded = encode_conditions(self.transformer_, conditions, n_samples, type(self).__name__)
        if encoded.is_empty:  # e.g. {} or a DataFrame of NaN: the unconditional draw
            Z = self._sample_encoded(n_samples, generator)
        else:
            Z = self._sample_encoded_given(n_samples, encoded, generator)
        return impose(self.transformer_.inverse_transform(Z), encoded, self.transformer_)

    # -- persistence ------------------------------------------------------------------------
    def _fitted_state(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("__")}

    def _params_to_save(self) -> dict[str, Any]:
        return self.get_params(deep=False)

    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        """Inverse of ``_fitted_state`` (used by :func:`load`)."""
        for name, value in state.items():
            setattr(self, name, value)

    def save(self, path: str | PathLike[str]) -> None:
        """Write the estimator to ``path`` (safetensors for arrays, JSON for the rest).

        The file holds no pickle; tensors are stored on the CPU, so a model fitted on a
        GPU loads on a CPU-only machine. Read it back with :func:`hybridgen.load` or
        ``type(self).load(path)``. In a process group (:mod:`hybridgen.distributed`)
        only rank 0 writes, and every process returns once the file is written.
        """
        self._check_fitted()
        if is_distributed():  # every process returns (or raises) once rank 0 has written
            on_every_process(lambda: self._write(path) if distributed_rank() == 0 else None)
            return
        self._write(path)

    def _write(self, path: str | PathLike[str]) -> None:
        arrays: dict[str, np.ndarray] = {}
        state = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": _serialization.encode(self._params_to_save(), arrays, "params"),
            "fitted": _serialization.encode(self._fitted_state(), arrays, "fitted"),
        }
        save_file(arrays, str(path), metadata={FORMAT_NAME: json.dumps(state)})

    @classmethod
    def load(cls: type[_Model], path: str | PathLike[str], *, device: str | None = None) -> _Model:
        """Read an estimator written by :meth:`save` (see :func:`hybridgen.load`).

        Raises
        ------
        ModelFormatError
            When the file is not a hybridgen model, comes from a newer format, or
            holds another class than ``cls``.
        """
        model = load(path, device=device)
        if not isinstance(model, cls):
            raise ModelFormatError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}; use "
                "hybridgen.load to read any model."
            )
        return model


def _read_state(path: str | PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFormatError(f"{path} is not a hybridgen model file ({exc}).") from exc
    if FORMAT_NAME not in metadata:
        raise ModelFormatError(f"{path} is a safetensors file but not a hybridgen model.")
    state = json.loads(metadata[FORMAT_NAME])
    version = state.get("format_version")
    if state.get("format") != FORMAT_NAME or not isinstance(version, int):
        raise ModelFormatError(f"{path} has no hybridgen format version.")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} was written in format version {version}; this hybridgen reads up to "
            f"{FORMAT_VERSION}. Upgrade hybridgen to load it."
        )
    return state, arrays


def load(path: str | PathLike[str], *, device: str | None = None) -> GenerativeModel:
    """Read any hybridgen estimator written by ``save``; no pickle is involved.

    Parameters
    ----------
    path : str or path-like
    device : str or None, default=None
        Overrides the saved ``device`` parameter. When None and the model was saved
        with a CUDA device that this machine lacks, it is loaded with ``device="cpu"``
        and a warning.

    Returns
    -------
    estimator : GenerativeModel
        Fitted, of the class that was saved.
    """
    state, arrays = _read_state(path)
    cls = _serialization.registered(state["class"])
    params = _serialization.decode(state["params"], arrays)
    if device is not None:
        params["device"] = device
    elif "cuda" in str(params.get("device", "")) and not torch.cuda.is_available():
        warnings.warn(
            f"{path} was saved with device={params['device']!r}, but CUDA is not available "
            "here; it is loaded with device='cpu'.",
            HybridgenWarning,
            stacklevel=2,
        )
        params["device"] = "cpu"
    model = cls(**params)
    model._restore_fitted_state(_serialization.decode(state["fitted"], arrays))
    return model

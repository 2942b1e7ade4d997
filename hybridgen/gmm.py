"""GaussianMixture: EM in torch, on CPU or GPU, for numeric arrays, images and mixed tables.

The model
---------
Each component k has a weight, a Gaussian over the continuous cells (numeric
columns or pixels) and, for a table, an independent categorical distribution over
each discrete variable: every categorical/boolean column, and the "is missing"
indicator of every numeric column that had missing values (a latent-class model).
A missing numeric cell is marginalised out of the Gaussian, so

    log p(x) = logsumexp_k [ log w_k + log N(x_obs; mu_k,obs, Sigma_k,obs)
                             + sum_j log P_kj(x_j) ]

which is exact for continuous densities and discrete probabilities alike. The
mathematics lives in :mod:`hybridgen._em`; this module is the estimator.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import _serialization
from ._conditional import EncodedConditions
from ._em import (
    MixtureData,
    MixtureLayout,
    Params,
    Stats,
    block_matrix,
    cholesky_from_precisions,
    chunk_size,
    complete_stats,
    components_given_labels,
    e_step,
    initial_responsibilities,
    label_log_posterior,
    m_step,
    mixture_data,
    mixture_layout,
    observed_mean,
    pass_stats,
    precisions_from_cholesky,
    run_em,
    sample_discrete,
    sample_gaussians,
    shifted,
    stats_from_params,
    uniform_probs,
    weighted_log_prob,
    with_labels,
)
from ._em_conditional import (
    PosteriorGroup,
    every_row,
    every_row_conditions,
    mixture_conditions,
    posterior_groups,
    sample_given_posterior,
)
from ._validation import Interval, Options
from .base import GenerativeModel, torch_generator
from .chunks import Chunks, chunk_source
from .distributed import all_reduce_sum, broadcast_tensors, is_distributed, on_every_process
from .distributed import rank as distributed_rank
from .exceptions import ConvergenceWarning, DataValidationError, InvalidParameterError
from .transform import TabularTransformer, dequantize

__all__ = ["GaussianMixture"]

logger = logging.getLogger(__name__)

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


_PRECISION_SHAPES = {
    "full": lambda k, d: (k, d, d),
    "tied": lambda k, d: (d, d),
    "diag": lambda k, d: (k, d),
    "spherical": lambda k, d: (k,),
}


@_serialization.register
class GaussianMixture(GenerativeModel):
    """Gaussian mixture fitted by EM in torch, for numeric arrays, images and mixed tables.

    On a numeric array it is scikit-learn's ``GaussianMixture`` (same parameters, same
    iterations, same likelihoods), on CPU or GPU. On a DataFrame, numeric columns share
    each component's Gaussian (in their own units), and every categorical or boolean
    column, and the missingness of every numeric column with missing values, gets a
    per-component categorical distribution; missing numeric cells are marginalised.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per row changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of covariances.
    max_iter : int, default=100
    n_init : int, default=1
        Number of initialisations; the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How responsibilities are initialised. k-means runs on standardised continuous
        cells and one-hot discrete cells (in torch, on ``device``).
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_continuous), default=None
    precisions_init : array-like, default=None
        Shape (n_components, n_continuous, n_continuous) for "full", (n_continuous,
        n_continuous) for "tied", (n_components, n_continuous) for "diag",
        (n_components,) for "spherical". When ``weights_init``, ``means_init`` and
        ``precisions_init`` are all given, initialisation looks at no rows: each
        component's distributions over discrete columns start uniform.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
    verbose : int, default=0
        A progress bar over EM iterations when > 0.
    standardize : {"auto", True, False}, default="auto"
        Standardise numeric columns before EM (the likelihood is still reported in the
        original units, the Jacobian included). "auto" does so for DataFrames, whose
        columns often differ in scale by many orders of magnitude, and not for arrays
        and images, which are used as they are, as scikit-learn does. Standardising
        changes what ``reg_covar`` means and makes spherical/diag/tied fits
        scale-invariant.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_continuous)
        In the units EM ran in: standardised when ``standardize`` applies (as are
        ``covariances_``, ``precisions_`` and ``means_init``).
    covariances_ : ndarray, shape as ``precisions_init``
    precisions_ : ndarray, shape as ``precisions_init``
    precisions_cholesky_ : ndarray, shape as ``precisions_init``
    category_counts_ : ndarray of shape (n_categorical_slots,)
        How often each category of each categorical column occurred in the fitted data
        (a condition on a category that never occurred is impossible).
    discrete_probs_ : ndarray of shape (n_components, n_discrete)
        Per component, the probability of each one-hot discrete column (categories of
        each categorical column, then [observed, missing] for each numeric column with
        missing values); each block sums to one. For images fitted with labels,
        P_k(class), one column per entry of ``classes_`` (images have no other discrete
        columns).
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels of images fitted with ``y``; defined only then.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per row of the best initialisation's last E-step.
    lower_bounds_ : list of float
        That initialisation's mean log-likelihood at every iteration (then one entry
        per :meth:`partial_fit`: the chunk's mean log-likelihood before its update).
    n_samples_seen_ : int
        Rows fitted on: by ``fit`` (over all processes) and every ``partial_fit``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when fitted on a DataFrame with string column names.
    transformer_ : TabularTransformer or ImageTransformer
        The fitted data layer.

    Notes
    -----
    Conditional sampling (``sample(n_samples, conditions=...)``, see
    :meth:`hybridgen.base.GenerativeModel.sample`) is exact: the conditional of a
    mixture is a mixture. Each row's component is drawn from its posterior given the
    conditions, ``w_k`` times the probability of each given category under component
    ``k`` times the marginal Gaussian density of the given numeric values; the other
    numeric cells are then drawn from the component's conditional Gaussian given those
    values, and the other categorical columns from the component's distributions. A
    range ``(low, high)`` on one numeric column multiplies each component's posterior by
    its probability of the range (the normal CDF of the conditional), draws the value
    from that truncated normal, and conditions the rest on it; ranges on two or more
    columns at once are refused (a box under a correlated Gaussian has no closed form).
    All of it is computed in the units EM ran in (standardised with ``standardize``),
    where the Jacobian of the encoding is the same for every component and cancels.
    A condition the model gives probability zero (a category absent from the fitted
    data, a range beyond every component's reach in float precision) raises a
    :class:`~hybridgen.exceptions.DataValidationError` at once.

    Images fitted with class labels, ``fit(images, y)``, make the class one more
    discrete variable of every component (as a categorical column of a table is): EM
    learns P_k(y) beside each component's Gaussian over pixels. ``score_samples``,
    ``predict`` and ``predict_proba`` see pixels only, the label summed out (log p(x)
    is the pixel mixture's density), and ``sample(n, conditions=label)``, or one label
    per image, draws exactly from p(x | y): a component from p(k | y), proportional to
    ``w_k P_k(y)``, then its Gaussian pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from hybridgen import GaussianMixture
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = GaussianMixture(n_components=2, random_state=0, device="cpu").fit(X)
    >>> gm.sample(5).shape
    (5, 2)
    >>> bool(gm.score(X) < 0)
    True

    Conditions name columns (by position for an array); a tuple is a range:

    >>> rows = gm.sample(4, conditions={0: 0.5, 1: (None, 0.0)})
    >>> bool((rows[:, 0] == 0.5).all() and (rows[:, 1] <= 0.0).all())
    True
    """

    #: small settings for smoke tests and the demo
    _quick_params: dict[str, Any] = {"n_components": 2, "max_iter": 50}

    _parameter_constraints: dict[str, list[Any]] = {
        "n_components": [Interval(Integral, 1, None, "left")],
        "covariance_type": [Options({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, "left")],
        "reg_covar": [Interval(Real, 0.0, None, "left")],
        "max_iter": [Interval(Integral, 0, None, "left")],
        "n_init": [Interval(Integral, 1, None, "left")],
        "init_params": [Options({"kmeans", "k-means++", "random", "random_from_data"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": [Interval(Integral, 0, None, "left"), "boolean"],
        "device": [str, torch.device],
        "dtype": [Options({"float64", "float32"})],
        "standardize": [Options({"auto"}), "boolean"],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        standardize: str | bool = "auto",
        device: str = "auto",
        dtype: str = "float64",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.standardize = standardize
        self.device = device
        self.dtype = dtype

    def _transformer_params(self, X: Any) -> dict[str, Any]:
        scale = self.standardize
        if scale == "auto":
            scale = isinstance(X, pd.DataFrame)
        return {"numeric": "standard" if scale else "identity"}

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> GaussianMixture:
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), images of shape
            (n_samples, H, W) or (n_samples, C, H, W), or a table in chunks
            A :class:`~hybridgen.chunks.Chunks`, a Parquet or CSV path, or a list of
            DataFrames is read one chunk at a time: one pass learns the columns, then
            one pass per EM iteration, so memory is bounded by a chunk. The fit equals
            the fit on all the rows at once, except that initialisation (k-means or
            random) looks at the first chunk only; with ``weights_init``,
            ``means_init`` and ``precisions_init`` all given it looks at no rows.
            In a ``torch.distributed`` process group each process passes its own shard
            (:mod:`hybridgen.distributed`) and EM sums the statistics of all.
        y : array-like of shape (n_samples,), default=None
            Images: class labels; the model then learns p(x, y), each component holding
            a distribution over the classes, and ``sample(conditions=label)`` draws
            images of a class. Tables and arrays: ignored.

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        InvalidParameterError
            With ``warm_start``, when the classes of ``y`` differ from the previous fit's.
        """
        self._validate_params()
        warm = self.warm_start and hasattr(self, "converged_")
        previous = self._params(torch.device("cpu"), torch.float64, labels=True) if warm else None
        previous_classes = getattr(self, "classes_", None)
        rng = self._rng()
        device, dtype = self._device(), _DTYPES[self.dtype]
        chunks = chunk_source(X)
        if chunks is None:
            rows = self._rows_in_memory(X, y, rng, device, dtype)
        else:
            rows = self._rows_in_chunks(chunks, y, device, dtype)
        if warm:
            self._check_same_classes(previous_classes)
        if rows.n < self.n_components:
            raise InvalidParameterError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {rows.n}"
            )
        blocks = block_matrix(rows.layout, device, dtype)
        config: dict[str, Any] = {
            "covariance_type": self.covariance_type,
            "reg_covar": float(self.reg_covar),
            "tol": float(self.tol),
            "max_iter": int(self.max_iter),
            "chunk": chunk_size(self.n_components, rows.first.X.shape[1], device),
        }

        def stats_at(params: Params) -> Stats:
            return _summed_over_processes(
                pass_stats(rows.parts(), params, self.covariance_type, config["chunk"])
            )

        best: tuple[Params, list[float], bool] | None = None
        for init in range(1 if warm else self.n_init):
            if previous is not None:
                start = _shifted(_to(previous, device, dtype), -rows.shift)
            else:
                start = self._start(rows, blocks, config, rng, chunked=chunks is not None)
            quiet = not self.verbose or distributed_rank() != 0
            with tqdm(total=self.max_iter, disable=quiet, desc=f"EM init {init + 1}") as bar:
                result = run_em(stats_at, start, config, blocks, bar)
            lb = result[1][-1] if result[1] else -math.inf
            if best is None or lb > (best[1][-1] if best[1] else -math.inf):
                best = result
        assert best is not None
        params, lower_bounds, converged = best
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._store(_shifted(params, rows.shift))
        self.category_counts_ = _category_counts(self.transformer_)  # which categories occurred
        self.converged_ = converged
        self.n_iter_ = len(lower_bounds)
        self.lower_bounds_ = lower_bounds
        self.lower_bound_ = lower_bounds[-1] if lower_bounds else -math.inf
        self.n_samples_seen_ = rows.n
        return self

    def partial_fit(self, X: Any, y: Any = None) -> GaussianMixture:
        """Update the mixture with one chunk of a stream (stepwise EM).

        The first call fits on ``X`` as :meth:`fit` does, and fixes the columns (their
        kinds, categories, missingness and scale: make that chunk representative).
        Each later call makes one E-step on ``X`` at the current parameters, adds its
        sufficient statistics to those of all the rows seen before (recovered from the
        parameters and ``n_samples_seen_``) and makes one M-step, so that every row
        seen weighs the same: stepwise EM (Cappe & Moulines 2009) with the chunk's
        share of the rows seen as step size, as scikit-learn's ``MiniBatchKMeans``
        weighs its centres by their counts. It follows a stream in one pass; to fit a
        table that can be read again, :meth:`fit` on a :class:`~hybridgen.chunks.Chunks`
        reaches the full-data maximum likelihood.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or images
            One chunk, of the kind the first call saw.
        y : ignored

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        DataValidationError
            When ``X`` needs another encoding than the first chunk's: a category or
            missing values the first chunk did not have, other columns.
        """
        if hasattr(self, "transformer_") and not hasattr(self, "n_samples_seen_"):
            raise DataValidationError(
                "This GaussianMixture was fitted by an older hybridgen, which did not keep "
                "n_samples_seen_, so partial_fit cannot weigh a new chunk against it; fit it "
                "again, then call partial_fit."
            )
        if not hasattr(self, "n_samples_seen_"):
            return self.fit(X)
        if chunk_source(X) is not None:
            raise DataValidationError(
                "partial_fit takes one chunk in memory; pass the chunks of a Chunks one by "
                "one, or fit(Chunks(...)) to fit on all of them."
            )
        if hasattr(self, "classes_"):
            raise DataValidationError(
                "partial_fit does not update a model of labelled images (fitted with y); "
                "refit with fit(X, y)."
            )
        transformer = copy.deepcopy(self.transformer_)  # kept only if the update succeeds
        if isinstance(transformer, TabularTransformer):
            transformer.partial_fit(X, owner=type(self).__name__)
        Z = transformer.transform(X, owner=type(self).__name__)
        Z = dequantize(transformer, Z, self._rng())
        device, dtype = self._device(), _DTYPES[self.dtype]
        layout = mixture_layout(self.transformer_.layout_)
        params = self._params(device, dtype)
        shift = params.weights @ params.means  # centred, as fit is
        params = _shifted(params, -shift)
        data = shifted(mixture_data(Z, layout, device, dtype), shift)
        cov_type, reg = self.covariance_type, float(self.reg_covar)
        chunk = chunk_size(self.n_components, data.X.shape[1], device)
        new = e_step(data, params, cov_type, chunk)
        total = stats_from_params(params, self.n_samples_seen_, cov_type, reg)
        total += new
        blocks = block_matrix(layout, device, dtype)
        self._store(_shifted(m_step(total, cov_type, reg, blocks), shift))
        self.transformer_ = transformer
        self.category_counts_ = _category_counts(self.transformer_)
        self.n_samples_seen_ += len(Z)
        self.n_iter_ += 1
        self.lower_bound_ = new.loglik.item() / new.n
        self.lower_bounds_ = [*self.lower_bounds_, self.lower_bound_]
        return self

    def _start(
        self,
        rows: _Rows,
        blocks: torch.Tensor,
        config: dict[str, Any],
        rng: np.random.RandomState,
        chunked: bool,
    ) -> Params:
        """Initial parameters from ``rows.first``; in a process group, rank 0's, made
        there alone (every process learns whether that failed, so none waits forever)."""

        def initial() -> Params:
            return self._initial_params(rows.first, blocks, rows.shift, config, rng, chunked)

        if not is_distributed():
            return initial()
        D = rows.first.X.shape[1]
        # every process holds parameters of the same shapes, overwritten by rank 0's
        start = on_every_process(
            lambda: initial() if distributed_rank() == 0 else self._blank_params(D, blocks)
        )
        return Params(*broadcast_tensors(list(vars(start).values())))

    def _blank_params(self, n_continuous: int, blocks: torch.Tensor) -> Params:
        """Weights 1/K, zero Gaussians and uniform discrete distributions (over the
        ``blocks`` of :func:`~hybridgen._em.block_matrix`), shaped for this model: the
        start that ``*_init`` overwrite."""
        K = self.n_components
        shape = _PRECISION_SHAPES[self.covariance_type](K, n_continuous)
        return Params(
            torch.full((K,), 1.0 / K).to(blocks),
            torch.zeros(K, n_continuous).to(blocks),
            torch.zeros(shape).to(blocks),
            torch.zeros(shape).to(blocks),
            uniform_probs(K, blocks),
        )

    def _rows_in_memory(
        self, X: Any, y: Any, rng: np.random.RandomState, device: torch.device, dtype: torch.dtype
    ) -> _Rows:
        """Fit the data layer on ``X`` and hold its encoded, centred rows on ``device``."""
        Z = self._fit_transformer(X)
        Z = dequantize(self.transformer_, Z, rng)
        codes = self._fit_labels(X, y)
        layout = mixture_layout(self.transformer_.layout_)
        data = mixture_data(Z, layout, device, dtype)
        if codes is not None:  # the class label: one more discrete variable per component
            layout, data = with_labels(layout, data, codes, len(self.classes_))
        shift = _common_shift(observed_mean(data))
        data = shifted(data, shift)  # EM on centred cells: exact, and stabler second moments
        n = len(Z)
        if is_distributed():
            n = int(all_reduce_sum([torch.tensor(float(n))])[0])
        return _Rows(layout, data, lambda: (data,), shift, n)

    def _rows_in_chunks(
        self, chunks: Chunks, y: Any, device: torch.device, dtype: torch.dtype
    ) -> _Rows:
        """Fit the data layer with a pass over ``chunks``; each later pass re-reads and
        encodes one chunk at a time."""
        if y is not None:
            raise DataValidationError(
                "y (class labels) is for images, which are fitted in memory; a table read "
                "in chunks keeps its label as a column."
            )
        if hasattr(self, "classes_"):
            del self.classes_
        self._fit_transformer_on_chunks(chunks)
        layout = mixture_layout(self.transformer_.layout_)
        owner = type(self).__name__

        def encoded(chunk: Any) -> MixtureData:
            Z = self.transformer_.transform(chunk, owner=owner)
            return mixture_data(Z, layout, device, dtype)

        first = encoded(chunks.first())
        shift = _common_shift(observed_mean(first))
        n = self.transformer_.summary_.columns[0].n  # every process's rows
        return _Rows(
            layout,
            shifted(first, shift),
            lambda: (shifted(encoded(chunk), shift) for chunk in chunks),
            shift,
            n,
        )

    def _check_same_classes(self, previous: np.ndarray | None) -> None:
        """A warm start continues the previous parameters, so the class labels (one
        discrete block of every component) must be the ones fitted before."""
        current = getattr(self, "classes_", None)
        if previous is None and current is None:
            return
        if previous is not None and current is not None and np.array_equal(previous, current):
            return
        shown = lambda c: "no labels" if c is None else f"classes {c.tolist()}"  # noqa: E731
        if previous is None:
            del self.classes_
        else:
            self.classes_ = previous
        raise InvalidParameterError(
            "warm_start=True continues the previous fit, which had "
            f"{shown(previous)}, but this fit has {shown(current)}. Fit with the same "
            "class labels, or set warm_start=False."
        )

    def _initial_params(
        self,
        data: MixtureData,
        blocks: torch.Tensor,
        shift: torch.Tensor,
        config: dict[str, Any],
        rng: np.random.RandomState,
        chunked: bool = False,
    ) -> Params:
        """Parameters from initial responsibilities, overridden by any ``*_init``
        (``chunked``: ``data`` is the first chunk of a table read in chunks).

        When weights, means and precisions are all given, the rows are not looked at:
        discrete variables start uniform in every component, so a fit on chunks and one
        on all the rows at once start (and so end) at the same parameters.
        """
        generator = torch_generator(rng, data.X.device)
        given = (self.weights_init, self.means_init, self.precisions_init)
        K, D = self.n_components, data.X.shape[1]
        if all(v is not None for v in given):
            return self._apply_user_init(self._blank_params(D, blocks), shift)
        if len(data.X) < K:
            where = "first chunk" if chunked else "shard of rank 0"
            raise InvalidParameterError(
                f"The {where} has {len(data.X)} rows, fewer than n_components = {K}, and "
                f"initialisation looks at it alone; give it more rows"
                + (" (a larger chunk_size)." if chunked else ".")
            )
        resp = initial_responsibilities(data, K, self.init_params, generator)
        stats = complete_stats(data, resp, self.covariance_type in ("full", "tied"))
        params = m_step(stats, self.covariance_type, config["reg_covar"], blocks)
        return self._apply_user_init(params, shift)

    def _apply_user_init(self, params: Params, shift: torch.Tensor) -> Params:
        K, D = params.means.shape

        def as_t(value: Any, shape: tuple[int, ...], name: str) -> torch.Tensor:
            array = _check_shape(value, shape, name)
            return torch.as_tensor(array, dtype=shift.dtype, device=shift.device)

        if self.weights_init is not None:
            w = as_t(self.weights_init, (K,), "weights_init")
            if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-6:
                raise InvalidParameterError(
                    f"The parameter 'weights_init' should be non-negative and sum to 1. Got "
                    f"{np.asarray(self.weights_init)!r} instead."
                )
            params.weights = w
        if self.means_init is not None:
            params.means = as_t(self.means_init, (K, D), "means_init") - shift
        if self.precisions_init is not None:
            shape = _PRECISION_SHAPES[self.covariance_type](K, D)
            prec = as_t(self.precisions_init, shape, "precisions_init")
            params.precisions_cholesky = cholesky_from_precisions(prec, self.covariance_type)
            diagonal = self.covariance_type in ("diag", "spherical")  # (K, D) may be square
            params.covariances = 1.0 / prec if diagonal else torch.linalg.inv(prec)
        return params

    # -- state <-> attributes -------------------------------------------------------------
    def _store(self, params: Params) -> None:
        to_np = lambda t: t.detach().cpu().numpy()  # noqa: E731
        self.weights_ = to_np(params.weights)
        self.means_ = to_np(params.means)
        self.covariances_ = to_np(params.covariances)
        self.precisions_cholesky_ = to_np(params.precisions_cholesky)
        self.precisions_ = to_np(
            precisions_from_cholesky(params.precisions_cholesky, self.covariance_type)
        )
        self.discrete_probs_ = to_np(params.probs)

    def _params(self, device: torch.device, dtype: torch.dtype, *, labels: bool = False) -> Params:
        """The fitted parameters as tensors. Without ``labels`` the class-label block of
        images fitted with ``y`` is summed out: each P_k(y) sums to one, so summing it out
        drops the block, leaving the mixture over pixels."""
        as_t = lambda a: torch.as_tensor(a, device=device, dtype=dtype)  # noqa: E731
        n_discrete = mixture_layout(self.transformer_.layout_).n_discrete
        probs = self.discrete_probs_ if labels else self.discrete_probs_[:, :n_discrete]
        return Params(
            as_t(self.weights_),
            as_t(self.means_),
            as_t(self.covariances_),
            as_t(self.precisions_cholesky_),
            as_t(probs),
        )

    # -- inference ------------------------------------------------------------------------
    def _weighted_log_prob(self, Z: np.ndarray) -> torch.Tensor:
        device, dtype = self._device(), _DTYPES[self.dtype]
        layout = mixture_layout(self.transformer_.layout_)
        data = mixture_data(Z, layout, device, dtype)
        params = self._params(device, dtype)
        chunk = chunk_size(self.n_components, data.X.shape[1], device)
        parts = [
            weighted_log_prob(data.rows(slice(i, i + chunk)), params, self.covariance_type)[0]
            for i in range(0, len(Z), chunk)
        ]
        return torch.cat(parts)

    def _log_likelihood(self, Z: np.ndarray) -> np.ndarray:
        log_density = torch.logsumexp(self._weighted_log_prob(Z), dim=1).cpu().numpy()
        return log_density + self.transformer_.log_abs_det_jacobian(Z)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component.

        Parameters
        ----------
        X : data of the kind fitted, n_samples rows

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        wlp = self._weighted_log_prob(self._encode(X))
        return torch.softmax(wlp, dim=1).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape (n_samples,)."""
        return self._weighted_log_prob(self._encode(X)).argmax(1).cpu().numpy()

    def _n_parameters(self) -> int:
        K, D = self.means_.shape
        cov = {"full": K * D * (D + 1) / 2, "tied": D * (D + 1) / 2, "diag": K * D, "spherical": K}
        layout = mixture_layout(self.transformer_.layout_)
        widths = [width for _, width in layout.blocks]
        widths += [len(self.classes_)] if hasattr(self, "classes_") else []
        discrete = K * sum(width - 1 for width in widths)
        return int(cov[self.covariance_type] + K * D + K - 1 + discrete)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        n = len(self._encode(X))
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        n = len(self._encode(X))
        return -2.0 * self.score(X) * n + 2.0 * self._n_parameters()

    # -- sampling -------------------------------------------------------------------------
    def _sample_encoded(self, n_samples: int, generator: torch.Generator) -> np.ndarray:
        device, dtype = generator.device, _DTYPES[self.dtype]
        params = self._params(device, dtype)
        layout = mixture_layout(self.transformer_.layout_)
        comp = torch.multinomial(params.weights, n_samples, replacement=True, generator=generator)
        K, D = params.means.shape
        X = torch.zeros(n_samples, D, dtype=dtype, device=device)
        if D:
            X = sample_gaussians(comp, params, self.covariance_type, generator)
        onehot = sample_discrete(comp, params.probs, layout.blocks, generator)
        return self._encoded_rows(X, onehot)

    def _sample_encoded_given(
        self, n_samples: int, conditions: EncodedConditions, generator: torch.Generator
    ) -> np.ndarray:
        device, dtype = generator.device, _DTYPES[self.dtype]
        params = self._params(device, dtype)
        layout = mixture_layout(self.transformer_.layout_)
        self._check_conditions_possible(conditions, params)
        first, inverse = conditions.distinct_rows()  # the posterior once per distinct row
        distinct = mixture_conditions(
            conditions.dense(self.transformer_.n_encoded_, first),
            [(r.cell, _bound(r.encoded_low), _bound(r.encoded_high)) for r in conditions.ranges],
            layout,
            device,
            dtype,
        )
        groups = posterior_groups(distinct, params, self.covariance_type)
        self._check_posterior(groups, conditions)
        index = torch.as_tensor(inverse, device=device)
        groups = every_row(groups, index)
        cond = every_row_conditions(distinct, index)
        X, comp = sample_given_posterior(groups, cond, params, self.covariance_type, generator)
        free = [b for b in layout.blocks if bool(distinct.free[:, b[0]].any())]
        onehot = sample_discrete(comp, params.probs, tuple(free), generator)
        return self._encoded_rows(X, torch.where(cond.free, onehot, cond.forced))

    def _sample_encoded_for_labels(
        self, labels: np.ndarray, generator: torch.Generator
    ) -> np.ndarray:
        """Images given their classes, exactly: each row's component from p(k | y), worked
        out once per class, then the component's Gaussian pixels."""
        device, dtype = generator.device, _DTYPES[self.dtype]
        params = self._params(device, dtype, labels=True)
        offset = mixture_layout(self.transformer_.layout_).n_discrete
        log_posterior = label_log_posterior(params.weights, params.probs[:, offset:])
        impossible = ~torch.isfinite(log_posterior.amax(1)).cpu().numpy()
        requested = np.unique(labels)
        if impossible[requested].any():
            names = self.classes_[requested[impossible[requested]]].tolist()
            raise DataValidationError(
                f"conditions give the class label(s) {names}, which the model gives "
                "probability zero (no component can produce them); expected a class "
                "the model can draw."
            )
        index = torch.as_tensor(labels, dtype=torch.long, device=device)
        comp = components_given_labels(log_posterior, index, generator)
        X = sample_gaussians(comp, params, self.covariance_type, generator)
        return self._encoded_rows(X, X.new_zeros(len(X), 0))

    def _encoded_rows(self, X: torch.Tensor, onehot: torch.Tensor) -> np.ndarray:
        """Encoded rows from continuous cells (n, D) and discrete one-hots (n, n_discrete)."""
        layout = mixture_layout(self.transformer_.layout_)
        Z = torch.zeros(len(X), self.transformer_.n_encoded_, dtype=X.dtype, device=X.device)
        Z[:, layout.cont] = X
        Z[:, layout.cat_cols] = onehot[:, : len(layout.cat_cols)]
        Z[:, layout.flag_cols] = onehot[:, len(layout.cat_cols) + 1 :: 2]
        return Z.cpu().numpy()

    def _check_conditions_possible(self, conditions: EncodedConditions, params: Params) -> None:
        """Refuse what this model cannot condition on exactly, and categories it gives
        probability zero."""
        if len(conditions.ranges) > 1:
            names = [r.column for r in conditions.ranges]
            raise DataValidationError(
                f"conditions put ranges on {len(names)} columns {names}; GaussianMixture "
                "conditions exactly on a range of one column at a time (the probability "
                "of a box under a correlated Gaussian has no closed form, so the draw "
                "would not be exact). Give a range for one column and values for others."
            )
        self._check_categories_possible(conditions, params)

    def _check_categories_possible(self, conditions: EncodedConditions, params: Params) -> None:
        layout = mixture_layout(self.transformer_.layout_)
        position = {int(c): i for i, c in enumerate(layout.cat_cols)}
        specs = {spec.name: spec for spec in self.transformer_.columns_}
        counts = getattr(self, "category_counts_", None)
        # without counts (a model saved before they were kept): EM keeps every category at
        # a floor of about 10 eps per component, so an absent one sits at that floor
        floor = 20 * self.n_components * torch.finfo(params.probs.dtype).eps
        for forced in conditions.categories:
            span = forced.span
            columns = [position[c] for c in range(span.start, span.stop)]
            used = np.unique(forced.slots[forced.slots >= 0])
            if counts is not None:
                zero = [int(slot) for slot in used if counts[columns[slot]] == 0]
            else:
                marginal = params.weights.double().cpu() @ params.probs.double().cpu()[:, columns]
                zero = [int(slot) for slot in used if float(marginal[slot]) <= floor]
            if zero:
                categories = specs[forced.column].categories
                shown = [categories[slot] if slot < len(categories) else None for slot in zero]
                raise DataValidationError(
                    f"conditions give column {forced.column!r} the value(s) {shown}, which "
                    "the model gives probability zero (they did not occur in the data it "
                    "was fitted on), so no row can meet them; expected a category that "
                    "occurred."
                )

    def _check_posterior(self, groups: list[PosteriorGroup], conditions: EncodedConditions) -> None:
        """Refuse conditions of probability zero (within float precision); ``groups`` hold
        the posterior of each distinct row of conditions."""
        tiny = math.log(np.finfo(np.float64).tiny)
        for group in groups:
            log_prob = group.range_log_prob
            if log_prob is not None and not bool((log_prob >= tiny).all()):
                bounds = conditions.ranges[0]
                raise DataValidationError(
                    f"conditions restrict column {bounds.column!r} to [{bounds.low:g}, "
                    f"{bounds.high:g}], which has probability below 1e-308 under the model "
                    "(given the other conditions): no component reaches it within float "
                    "precision. Expected a range where the model has mass."
                )
            if not bool(torch.isfinite(group.logits.amax(1)).all()):
                raise DataValidationError(
                    "conditions have probability zero under the model: no component can "
                    "produce them."
                )


def _bound(value: float | None) -> float:
    """An encoded range bound; GaussianMixture encodes numbers affinely, so it is set."""
    assert value is not None
    return value


def _shifted(params: Params, shift: torch.Tensor) -> Params:
    return Params(
        params.weights,
        params.means + shift,
        params.covariances,
        params.precisions_cholesky,
        params.probs,
    )


def _to(params: Params, device: torch.device, dtype: torch.dtype) -> Params:
    return Params(
        *(getattr(params, f).to(device=device, dtype=dtype) for f in Params.__dataclass_fields__)
    )


def _check_shape(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise InvalidParameterError(
            f"The parameter '{name}' should have the shape {shape}, but got {array.shape}."
        )
    return array


class _Rows(NamedTuple):
    """The rows EM reads: their layout, the rows initialisation looks at (all of them in
    memory, the first chunk of a stream), one pass over all of them (``parts()``), the
    shift they are centred by, and how many rows all processes hold together."""

    layout: MixtureLayout
    first: MixtureData
    parts: Callable[[], Iterable[MixtureData]]
    shift: torch.Tensor
    n: int


def _common_shift(shift: torch.Tensor) -> torch.Tensor:
    """Rank 0's centring shift on every process (this process's own without a group)."""
    if not is_distributed():
        return shift
    return broadcast_tensors([shift])[0]


def _summed_over_processes(stats: Stats) -> Stats:
    """``stats`` summed over the processes of the group (as they are without one)."""
    if not is_distributed():
        return stats
    names = ("nk", "sx", "sxx", "counts", "loglik")
    summed = all_reduce_sum([getattr(stats, k) for k in names] + [torch.tensor(float(stats.n))])
    nk, sx, sxx, counts, loglik, n = summed
    return Stats(nk, sx, sxx, counts, loglik, int(n))


def _category_counts(transformer: Any) -> np.ndarray:
    if isinstance(transformer, TabularTransformer):
        return transformer.category_counts()
    return np.zeros(0)

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

which is exact for continuous densities and discrete probabilities alike.

EM is written as accumulation of sufficient statistics over row chunks (``_e_step``
returns them, ``_m_step`` turns them into parameters), with the conditional
expectations of missing cells given the observed ones (Ghahramani & Jordan 1994).
On numeric data without missing values the iterations are those of
``sklearn.mixture.GaussianMixture``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from . import _serialization
from ._kmeans import kmeans, kmeans_plusplus
from ._validation import Interval, Options
from .base import GenerativeModel, torch_generator
from .exceptions import ConvergenceWarning, InvalidParameterError, NumericalError

__all__ = ["GaussianMixture"]

logger = logging.getLogger(__name__)

_LOG_2PI = math.log(2.0 * math.pi)
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


# ---------------------------------------------------------------------------------------
# Encoded layout -> the model's view of a row
# ---------------------------------------------------------------------------------------
class MixtureLayout(NamedTuple):
    """Which encoded columns are continuous, which are discrete, and how discrete
    columns group into variables (``blocks`` of (offset, width) in the one-hot matrix)."""

    cont: np.ndarray  # encoded indices of continuous cells, (n_cont,)
    flag_cols: np.ndarray  # encoded indices of "is missing" indicators, (n_flags,)
    flag_pos: np.ndarray  # position in ``cont`` of the cell each indicator refers to
    cat_cols: np.ndarray  # encoded indices of categorical one-hot columns
    blocks: tuple[tuple[int, int], ...]

    @property
    def n_discrete(self) -> int:
        return len(self.cat_cols) + 2 * len(self.flag_cols)


def mixture_layout(spans: Any) -> MixtureLayout:
    """Read the transformer's published spans into a :class:`MixtureLayout`."""
    cont: list[int] = []
    position: dict[Any, int] = {}
    flags: list[tuple[int, int]] = []
    cats: list[int] = []
    blocks: list[tuple[int, int]] = []
    for span in spans:
        cols = list(range(span.start, span.start + span.width))
        if span.kind in ("continuous", "pixel"):
            position[span.column] = len(cont)
            cont.extend(cols)
        elif span.kind == "missing":
            flags.append((span.start, position[span.column]))
        elif span.kind == "categorical":
            blocks.append((len(cats), span.width))
            cats.extend(cols)
        else:
            raise ValueError(f"GaussianMixture cannot model a span of kind {span.kind!r}.")
    offset = len(cats)
    blocks.extend((offset + 2 * i, 2) for i in range(len(flags)))
    return MixtureLayout(
        np.asarray(cont, dtype=np.int64),
        np.asarray([f[0] for f in flags], dtype=np.int64),
        np.asarray([f[1] for f in flags], dtype=np.int64),
        np.asarray(cats, dtype=np.int64),
        tuple(blocks),
    )


class MixtureData(NamedTuple):
    """Encoded rows as the E-step reads them (all tensors on one device)."""

    X: torch.Tensor  # (n, n_cont) continuous cells, missing ones set to 0
    missing: torch.Tensor | None  # (n, n_cont) bool, None when nothing is missing
    onehot: torch.Tensor  # (n, n_discrete) discrete variables, one-hot per block
    impossible: torch.Tensor  # (n,) bool: a discrete block is all zero (unseen value)

    def rows(self, sl: slice) -> MixtureData:
        return MixtureData(
            self.X[sl],
            None if self.missing is None else self.missing[sl],
            self.onehot[sl],
            self.impossible[sl],
        )


def block_matrix(layout: MixtureLayout, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(n_discrete, n_blocks) 0/1 matrix: column b marks the one-hot columns of block b."""
    G = torch.zeros(layout.n_discrete, len(layout.blocks), device=device, dtype=dtype)
    for b, (offset, width) in enumerate(layout.blocks):
        G[offset : offset + width, b] = 1.0
    return G


def mixture_data(
    Z: np.ndarray, layout: MixtureLayout, device: torch.device, dtype: torch.dtype
) -> MixtureData:
    """Split an encoded matrix into continuous cells, missing mask and discrete one-hots."""
    Zt = torch.as_tensor(Z, device=device, dtype=dtype)
    X = Zt[:, layout.cont]
    flags = Zt[:, layout.flag_cols] > 0.5
    missing = None
    if flags.any():
        missing = torch.zeros_like(X, dtype=torch.bool)
        missing[:, layout.flag_pos] = flags
        X = X.masked_fill(missing, 0.0)
    flags_f = flags.to(dtype)
    pairs = torch.stack([1.0 - flags_f, flags_f], dim=2).reshape(len(Zt), -1)
    onehot = torch.cat([Zt[:, layout.cat_cols], pairs], dim=1)
    impossible = ((onehot @ block_matrix(layout, device, dtype)) == 0).any(1)
    return MixtureData(X, missing, onehot, impossible)


# ---------------------------------------------------------------------------------------
# Parameters and their pure maths, one function per covariance type where they differ
# ---------------------------------------------------------------------------------------
@dataclass
class Params:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    covariances: torch.Tensor  # full (K,D,D) | tied (D,D) | diag (K,D) | spherical (K,)
    precisions_cholesky: torch.Tensor  # same shapes as covariances
    probs: torch.Tensor  # (K, n_discrete), each block sums to one per component


def full_covariances(cov: torch.Tensor, cov_type: str, n_components: int, n_features: int):
    """Any covariance parametrisation as (K, D, D) matrices."""
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return cov.expand(n_components, n_features, n_features)
    if cov_type == "diag":
        return torch.diag_embed(cov)
    return cov[:, None, None] * torch.eye(n_features, dtype=cov.dtype, device=cov.device)


_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


def precision_cholesky(cov: torch.Tensor, cov_type: str) -> torch.Tensor:
    """Cholesky factors of the precision matrices (upper, as scikit-learn stores them)."""
    if cov_type in ("full", "tied"):
        L, info = torch.linalg.cholesky_ex(cov)
        if bool((info != 0).any()):
            raise NumericalError(_ILL_DEFINED)
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
        return torch.linalg.solve_triangular(L, eye, upper=False).mT
    if bool((cov <= 0).any()):
        raise NumericalError(_ILL_DEFINED)
    return cov.rsqrt()


def precisions_from_cholesky(prec_chol: torch.Tensor, cov_type: str) -> torch.Tensor:
    if cov_type in ("full", "tied"):
        return prec_chol @ prec_chol.mT
    return prec_chol**2


def cholesky_from_precisions(precisions: torch.Tensor, cov_type: str) -> torch.Tensor:
    """Precision Cholesky factors from user-given precisions (``precisions_init``)."""
    if cov_type in ("full", "tied"):
        L, info = torch.linalg.cholesky_ex(precisions)
        if bool((info != 0).any()):
            raise InvalidParameterError("'precisions_init' must be symmetric positive-definite.")
        return L
    if bool((precisions <= 0).any()):
        raise InvalidParameterError("'precisions_init' must be strictly positive.")
    return precisions.sqrt()


def log_gaussian(X: torch.Tensor, means: torch.Tensor, prec_chol: torch.Tensor, cov_type: str):
    """log N(x_n; mu_k, Sigma_k) for complete rows, shape (n, K).

    ``full`` is one matrix product with all precision factors side by side.
    """
    n, d = X.shape
    K = means.shape[0]
    if cov_type == "full":
        y = X @ prec_chol.permute(1, 0, 2).reshape(d, K * d)
        y.sub_(torch.einsum("kd,kde->ke", means, prec_chol).reshape(-1)).square_()
        maha = y.view(n, K, d).sum(-1)
        log_det = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
    elif cov_type == "tied":
        y, b = X @ prec_chol, means @ prec_chol
        maha = (y * y).sum(1, keepdim=True) - 2.0 * y @ b.T + (b * b).sum(1)
        log_det = torch.log(torch.diagonal(prec_chol)).sum()
    elif cov_type == "diag":
        prec = prec_chol**2
        maha = (means**2 * prec).sum(1) - 2.0 * X @ (means * prec).T + (X * X) @ prec.T
        log_det = torch.log(prec_chol).sum(1)
    else:  # spherical
        prec = prec_chol**2
        maha = (means**2).sum(1) * prec - 2.0 * (X @ means.T) * prec + torch.outer((X * X).sum(1), prec)
        log_det = d * torch.log(prec_chol)
    return -0.5 * (d * _LOG_2PI + maha) + log_det


class Completion(NamedTuple):
    """Rows sharing one missing pattern: their expected values and residual covariance."""

    rows: torch.Tensor  # row indices within the chunk
    x_hat: torch.Tensor  # (K, n_rows, D): observed cells, and E[x_missing | x_obs, k]
    cond_cov: torch.Tensor  # (K, D, D): Cov[x_missing | x_obs, k], zero outside missing cells


def log_gaussian_missing(
    X: torch.Tensor, observed: torch.Tensor, means: torch.Tensor, cov_full: torch.Tensor
) -> tuple[torch.Tensor, Completion]:
    """Marginal log-density over the observed cells for rows sharing one pattern, and the
    conditional moments of the missing cells. ``observed`` is a (D,) bool mask."""
    o, m = observed.nonzero().squeeze(1), (~observed).nonzero().squeeze(1)
    K, n = means.shape[0], X.shape[0]
    x_hat = X.expand(K, n, X.shape[1]).clone()
    cond = torch.zeros_like(cov_full)
    if len(o) == 0:
        x_hat[:, :, m] = means[:, None, m]
        cond[:, m[:, None], m] = cov_full[:, m[:, None], m]
        return torch.zeros(n, K, dtype=X.dtype, device=X.device), Completion(None, x_hat, cond)
    S_oo = cov_full[:, o[:, None], o]
    S_mo = cov_full[:, m[:, None], o]
    L, info = torch.linalg.cholesky_ex(S_oo)
    if bool((info != 0).any()):
        raise NumericalError(_ILL_DEFINED)
    diff = (X[:, o][None] - means[:, None, o]).mT  # (K, |o|, n)
    white = torch.linalg.solve_triangular(L, diff, upper=False)
    log_det = 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    logp = -0.5 * (len(o) * _LOG_2PI + (white**2).sum(1) + log_det[:, None])
    x_hat[:, :, m] = (means[:, m, None] + S_mo @ torch.cholesky_solve(diff, L)).mT
    cond[:, m[:, None], m] = cov_full[:, m[:, None], m] - S_mo @ torch.cholesky_solve(S_mo.mT, L)
    return logp.T, Completion(None, x_hat, cond)


# ---------------------------------------------------------------------------------------
# EM as sufficient statistics
# ---------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Sufficient statistics accumulated over rows (``+=`` over chunks, all-reducible)."""

    nk: torch.Tensor  # (K,)  sum of responsibilities
    sx: torch.Tensor  # (K, D)  sum of r * x
    sxx: torch.Tensor  # (K, D, D) for full/tied, (K, D) for diag/spherical
    counts: torch.Tensor  # (K, n_discrete)
    loglik: torch.Tensor = field(default_factory=lambda: torch.tensor(0.0))
    n: int = 0

    def __iadd__(self, other: Stats) -> Stats:
        for name in ("nk", "sx", "sxx", "counts", "loglik"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.n += other.n
        return self


def second_moments(X: torch.Tensor, resp: torch.Tensor, matrix: bool) -> torch.Tensor:
    """sum_n r_nk x_n x_n^T, shape (K, D, D) (``matrix``) or its diagonal (K, D)."""
    if not matrix:
        return resp.T @ (X * X)
    n, d = X.shape
    weighted = (resp[:, :, None] * X[:, None, :]).reshape(n, -1)
    return (weighted.T @ X).view(resp.shape[1], d, d)


def complete_stats(data: MixtureData, resp: torch.Tensor, matrix: bool) -> Stats:
    """Statistics treating every continuous cell as observed (as the filled values are)."""
    return Stats(
        resp.sum(0),
        resp.T @ data.X,
        second_moments(data.X, resp, matrix),
        resp.T @ data.onehot,
        torch.zeros((), dtype=resp.dtype, device=resp.device),
        len(resp),
    )


def chunk_stats(part: MixtureData, resp: torch.Tensor, completions: list[Completion], matrix: bool):
    """Statistics of one chunk: complete rows directly, incomplete rows through their
    completions (E[x | x_obs, k] and the conditional covariance)."""
    if part.missing is None:
        return complete_stats(part, resp, matrix)
    stats = complete_stats(part, resp * (~part.missing.any(1))[:, None], matrix)
    stats.nk, stats.counts = resp.sum(0), resp.T @ part.onehot
    for c in completions:
        sx, sxx = completion_stats(c, resp[c.rows], matrix)
        stats.sx, stats.sxx = stats.sx + sx, stats.sxx + sxx
    return stats


def completion_stats(c: Completion, resp: torch.Tensor, matrix: bool) -> tuple[torch.Tensor, ...]:
    """Contribution of incomplete rows: x replaced by E[x | x_obs, k], plus Cov[x_m | x_obs, k]."""
    r = resp.T[:, :, None]  # (K, n, 1)
    sx = (r * c.x_hat).sum(1)
    total = resp.sum(0)
    if matrix:
        sxx = c.x_hat.mT @ (r * c.x_hat) + total[:, None, None] * c.cond_cov
    else:
        sxx = (r * c.x_hat**2).sum(1) + total[:, None] * torch.diagonal(c.cond_cov, dim1=-2, dim2=-1)
    return sx, sxx


def weighted_log_prob(
    data: MixtureData, params: Params, cov_type: str
) -> tuple[torch.Tensor, list[Completion]]:
    """log w_k + log p(x_n | k), shape (n, K), and the completions of incomplete rows."""
    wlp = torch.log(params.weights) + data.onehot @ torch.log(params.probs).T
    completions: list[Completion] = []
    if data.X.shape[1] > 0:
        wlp = wlp + log_gaussian(data.X, params.means, params.precisions_cholesky, cov_type)
    if data.missing is not None and bool(data.missing.any()):
        cov_full = full_covariances(params.covariances, cov_type, *params.means.shape)
        incomplete = data.missing.any(1).nonzero().squeeze(1)
        patterns, inverse = torch.unique(data.missing[incomplete], dim=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            rows = incomplete[inverse == p]
            logp, c = log_gaussian_missing(data.X[rows], ~pattern, params.means, cov_full)
            base = torch.log(params.weights) + data.onehot[rows] @ torch.log(params.probs).T
            wlp[rows] = base + logp
            completions.append(c._replace(rows=rows))
    return wlp.masked_fill(data.impossible[:, None], -math.inf), completions


def chunk_size(n_components: int, n_features: int, device: torch.device) -> int:
    """Rows per chunk so that (rows x K x D) intermediates stay in cache on a CPU (2 MB)
    and large enough to fill a GPU (512 MB)."""
    budget = 2**26 if device.type == "cuda" else 2**18
    return max(256, budget // max(1, n_components * max(1, n_features)))


def e_step(data: MixtureData, params: Params, cov_type: str, chunk: int) -> Stats:
    """One pass over the data: log-likelihood and sufficient statistics at ``params``."""
    matrix = cov_type in ("full", "tied")
    total: Stats | None = None
    for start in range(0, len(data.X), chunk):
        part = data.rows(slice(start, start + chunk))
        wlp, completions = weighted_log_prob(part, params, cov_type)
        norm = torch.logsumexp(wlp, dim=1)
        stats = chunk_stats(part, torch.exp(wlp - norm[:, None]), completions, matrix)
        stats.loglik = norm.sum()
        if total is None:
            total = stats
        else:
            total += stats
    if total is None:
        raise ValueError("e_step needs at least one row.")
    return total


def _covariance_from_stats(stats: Stats, nk: torch.Tensor, means: torch.Tensor, cov_type: str):
    if cov_type == "full":
        return stats.sxx / nk[:, None, None] - means[:, :, None] * means[:, None, :]
    if cov_type == "tied":
        return (stats.sxx.sum(0) - (nk[:, None] * means).T @ means) / nk.sum()
    diag = stats.sxx / nk[:, None] - means**2
    return diag if cov_type == "diag" else diag.mean(1)


def m_step(stats: Stats, cov_type: str, reg_covar: float, blocks: torch.Tensor) -> Params:
    """Parameters maximising the expected complete log-likelihood given ``stats``."""
    eps = 10 * torch.finfo(stats.nk.dtype).eps
    nk = stats.nk + eps
    means = stats.sx / nk[:, None]
    cov = _covariance_from_stats(stats, nk, means, cov_type)
    if cov_type in ("full", "tied"):
        cov = cov + reg_covar * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    else:
        cov = cov + reg_covar
    counts = stats.counts + eps
    probs = counts / ((counts @ blocks) @ blocks.T)
    return Params(nk / nk.sum(), means, cov, precision_cholesky(cov, cov_type), probs)

def run_em(
    data: MixtureData,
    params: Params,
    config: dict[str, Any],
    blocks: torch.Tensor,
    progress: tqdm | None = None,
) -> tuple[Params, list[float], bool]:
    """EM from ``params`` until the mean log-likelihood changes by less than ``tol``.

    Returns the final parameters, the mean log-likelihood of each E-step, and whether
    it converged (the loop of ``sklearn.mixture``: E-step, M-step, then the test).
    """
    lower_bounds: list[float] = []
    converged = False
    for _ in range(config["max_iter"]):
        stats = e_step(data, params, config["covariance_type"], config["chunk"])
        params = m_step(stats, config["covariance_type"], config["reg_covar"], blocks)
        lower_bounds.append(stats.loglik.item() / stats.n)
        if not math.isfinite(lower_bounds[-1]):
            raise NumericalError(
                "The log-likelihood became non-finite during EM; try a larger reg_covar, "
                "fewer components, or scaled data."
            )
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loglik=f"{lower_bounds[-1]:.4f}")
        if len(lower_bounds) > 1 and abs(lower_bounds[-1] - lower_bounds[-2]) < config["tol"]:
            converged = True
            break
    return params, lower_bounds, converged


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
        (n_components,) for "spherical".
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then 1).
    verbose : int, default=0
        A progress bar over EM iterations when > 0.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    dtype : {"float64", "float32"}, default="float64"

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_continuous)
    covariances_ : ndarray, shape as ``precisions_init``
    precisions_ : ndarray, shape as ``precisions_init``
    precisions_cholesky_ : ndarray, shape as ``precisions_init``
    discrete_probs_ : ndarray of shape (n_components, n_discrete)
        Per component, the probability of each one-hot discrete column (categories of
        each categorical column, then [observed, missing] for each numeric column with
        missing values); each block sums to one.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per row of the best initialisation's last E-step.
    lower_bounds_ : list of float
        That initialisation's mean log-likelihood at every iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when fitted on a DataFrame with string column names.
    transformer_ : TabularTransformer or ImageTransformer
        The fitted data layer.

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
        self.device = device
        self.dtype = dtype

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> GaussianMixture:
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or images of shape
            (n_samples, H, W) or (n_samples, C, H, W)
        y : ignored

        Returns
        -------
        self : GaussianMixture
        """
        self._validate_params()
        warm = self.warm_start and hasattr(self, "converged_")
        previous = self._params(torch.device("cpu"), torch.float64) if warm else None
        Z = self._fit_transformer(X)
        if len(Z) < self.n_components:
            raise InvalidParameterError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {len(Z)}"
            )
        device, dtype = self._device(), _DTYPES[self.dtype]
        layout = mixture_layout(self.transformer_.layout_)
        data = mixture_data(Z, layout, device, dtype)
        shift = _observed_mean(data)  # EM runs on centred cells: exact, and stabler moments
        data = data._replace(X=data.X - shift if data.missing is None else (data.X - shift).masked_fill(data.missing, 0.0))
        blocks = block_matrix(layout, device, dtype)
        config = {
            "covariance_type": self.covariance_type,
            "reg_covar": float(self.reg_covar),
            "tol": float(self.tol),
            "max_iter": int(self.max_iter),
            "chunk": chunk_size(self.n_components, data.X.shape[1], device),
        }
        rng = self._rng()
        best: tuple[Params, list[float], bool] | None = None
        for init in range(1 if warm else self.n_init):
            if previous is not None:
                start = _shifted(_to(previous, device, dtype), -shift)
            else:
                start = self._initial_params(data, blocks, shift, config, rng)
            with tqdm(total=self.max_iter, disable=not self.verbose, desc=f"EM init {init + 1}") as bar:
                result = run_em(data, start, config, blocks, bar)
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
        self._store(_shifted(params, shift))
        self.converged_ = converged
        self.n_iter_ = len(lower_bounds)
        self.lower_bounds_ = lower_bounds
        self.lower_bound_ = lower_bounds[-1] if lower_bounds else -math.inf
        return self

    def _initial_params(
        self,
        data: MixtureData,
        blocks: torch.Tensor,
        shift: torch.Tensor,
        config: dict[str, Any],
        rng: np.random.RandomState,
    ) -> Params:
        """Parameters from initial responsibilities, overridden by any ``*_init``."""
        generator = torch_generator(rng, data.X.device)
        given = (self.weights_init, self.means_init, self.precisions_init)
        # when every parameter is given, the responsibilities would only be overwritten
        method = "random" if all(v is not None for v in given) else self.init_params
        resp = initial_responsibilities(data, self.n_components, method, generator)
        stats = complete_stats(data, resp, self.covariance_type in ("full", "tied"))
        params = m_step(stats, self.covariance_type, config["reg_covar"], blocks)
        return self._apply_user_init(params, shift)

    def _apply_user_init(self, params: Params, shift: torch.Tensor) -> Params:
        K, D = params.means.shape
        as_t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=shift.dtype, device=shift.device)  # noqa: E731
        if self.weights_init is not None:
            w = as_t(_check_shape(self.weights_init, (K,), "weights_init"))
            if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-6:
                raise InvalidParameterError(
                    f"The parameter 'weights_init' should be non-negative and sum to 1. Got "
                    f"{np.asarray(self.weights_init)!r} instead."
                )
            params.weights = w
        if self.means_init is not None:
            params.means = as_t(_check_shape(self.means_init, (K, D), "means_init")) - shift
        if self.precisions_init is not None:
            shape = _PRECISION_SHAPES[self.covariance_type](K, D)
            prec = as_t(_check_shape(self.precisions_init, shape, "precisions_init"))
            params.precisions_cholesky = cholesky_from_precisions(prec, self.covariance_type)
            params.covariances = torch.linalg.inv(prec) if prec.ndim >= 2 else 1.0 / prec
        return params

    # -- state <-> attributes -------------------------------------------------------------
    def _store(self, params: Params) -> None:
        to_np = lambda t: t.detach().cpu().numpy()  # noqa: E731
        self.weights_ = to_np(params.weights)
        self.means_ = to_np(params.means)
        self.covariances_ = to_np(params.covariances)
        self.precisions_cholesky_ = to_np(params.precisions_cholesky)
        self.precisions_ = to_np(precisions_from_cholesky(params.precisions_cholesky, self.covariance_type))
        self.discrete_probs_ = to_np(params.probs)

    def _params(self, device: torch.device, dtype: torch.dtype) -> Params:
        as_t = lambda a: torch.as_tensor(a, device=device, dtype=dtype)  # noqa: E731
        return Params(
            as_t(self.weights_),
            as_t(self.means_),
            as_t(self.covariances_),
            as_t(self.precisions_cholesky_),
            as_t(self.discrete_probs_),
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
        return torch.cat(parts) if parts else torch.zeros(0, self.n_components, dtype=dtype)

    def _log_likelihood(self, Z: np.ndarray) -> np.ndarray:
        return torch.logsumexp(self._weighted_log_prob(Z), dim=1).cpu().numpy()

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
        discrete = K * sum(width - 1 for _, width in layout.blocks)
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
        Z = torch.zeros(n_samples, self.transformer_.n_encoded_, dtype=dtype, device=device)
        K, D = params.means.shape
        if D:
            Z[:, layout.cont] = sample_gaussians(comp, params, self.covariance_type, generator)
        onehot = sample_discrete(comp, params.probs, layout.blocks, generator)
        Z[:, layout.cat_cols] = onehot[:, : len(layout.cat_cols)]
        Z[:, layout.flag_cols] = onehot[:, len(layout.cat_cols) + 1 :: 2]
        return Z.cpu().numpy()


def sample_gaussians(
    comp: torch.Tensor, params: Params, cov_type: str, generator: torch.Generator
) -> torch.Tensor:
    """x_n ~ N(mu_{comp_n}, Sigma_{comp_n}), shape (n_samples, D)."""
    K, D = params.means.shape
    noise = torch.randn(len(comp), D, generator=generator, device=comp.device, dtype=params.means.dtype)
    cov = full_covariances(params.covariances, cov_type, K, D)
    L = torch.linalg.cholesky(cov)
    out = params.means[comp].clone()
    for k in range(K):
        rows = (comp == k).nonzero().squeeze(1)
        out[rows] += noise[rows] @ L[k].T
    return out


def sample_discrete(
    comp: torch.Tensor, probs: torch.Tensor, blocks: tuple[tuple[int, int], ...], generator: torch.Generator
) -> torch.Tensor:
    """One-hot draws of every discrete block given the components, shape (n, n_discrete)."""
    out = torch.zeros(len(comp), probs.shape[1], dtype=probs.dtype, device=comp.device)
    for offset, width in blocks:
        block = probs[comp, offset : offset + width]
        choice = torch.multinomial(block, 1, generator=generator).squeeze(1)
        out[torch.arange(len(comp), device=comp.device), offset + choice] = 1.0
    return out


def initial_responsibilities(
    data: MixtureData, n_components: int, method: str, generator: torch.Generator
) -> torch.Tensor:
    """Initial (n, K) responsibilities: k-means labels, k-means++ seeds, random, or random rows."""
    n = len(data.X)
    dtype, device = data.X.dtype, data.X.device
    resp = torch.zeros(n, n_components, dtype=dtype, device=device)
    if method == "random":
        resp = torch.rand(n, n_components, generator=generator, dtype=dtype, device=device)
        return resp / resp.sum(1, keepdim=True)
    features = _kmeans_features(data)
    if method == "kmeans":
        labels = kmeans(features, n_components, generator)
        resp[torch.arange(n, device=device), labels] = 1.0
        return resp
    if method == "k-means++":
        seeds = kmeans_plusplus(features, n_components, generator)
    else:  # random_from_data
        seeds = torch.randperm(n, generator=generator, device=device)[:n_components]
    resp[seeds, torch.arange(n_components, device=device)] = 1.0
    return resp


def _kmeans_features(data: MixtureData) -> torch.Tensor:
    """Standardised continuous cells (missing ones at the mean) beside discrete one-hots."""
    if data.X.shape[1] == 0:
        return data.onehot
    std = data.X.std(0, correction=0)
    return torch.cat([data.X / torch.where(std > 0, std, 1.0), data.onehot], dim=1)


def _observed_mean(data: MixtureData) -> torch.Tensor:
    if data.missing is None:
        return data.X.mean(0)
    observed = (~data.missing).to(data.X.dtype)
    return (data.X * observed).sum(0) / observed.sum(0).clamp_min(1.0)


def _shifted(params: Params, shift: torch.Tensor) -> Params:
    return Params(params.weights, params.means + shift, params.covariances, params.precisions_cholesky, params.probs)


def _to(params: Params, device: torch.device, dtype: torch.dtype) -> Params:
    return Params(*(getattr(params, f).to(device=device, dtype=dtype) for f in Params.__dataclass_fields__))


def _check_shape(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise InvalidParameterError(
            f"The parameter '{name}' should have the shape {shape}, but got {array.shape}."
        )
    return array

"""EM for Gaussian mixtures over mixed rows, as pure functions on torch tensors.

A row is seen through a :class:`MixtureLayout`: continuous cells (numeric columns or
pixels) share each component's Gaussian; discrete variables (categorical columns and
the "is missing" indicators of numeric columns) are one-hot blocks with a categorical
distribution per component. Missing continuous cells are marginalised out.

EM is accumulation of sufficient statistics: :func:`e_step` makes a :class:`Stats`
over row chunks (``+=`` combines chunks, streams or processes) and :func:`m_step`
turns it into :class:`Params`. On complete numeric data every step is the one
``sklearn.mixture.GaussianMixture`` takes; with missing cells the statistics use
E[x_missing | x_observed, k] and the conditional covariance (Ghahramani & Jordan 1994).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ._kmeans import kmeans, kmeans_plusplus
from .exceptions import InvalidParameterError, NumericalError

_LOG_2PI = math.log(2.0 * math.pi)


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
    n_labels: int = 0  # width of a class-label block after all others (images with ``y``)

    @property
    def n_discrete(self) -> int:
        return len(self.cat_cols) + 2 * len(self.flag_cols) + self.n_labels


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


def with_labels(
    layout: MixtureLayout, data: MixtureData, codes: np.ndarray, n_classes: int
) -> tuple[MixtureLayout, MixtureData]:
    """Add class labels as one more discrete variable of every component.

    The one-hot labels, shape (n, n_classes), go after the other discrete columns and
    one block of width ``n_classes`` after the other blocks, so EM learns P_k(y) as it
    learns any categorical column. ``codes`` are class indices, shape (n,).
    """
    index = torch.as_tensor(codes, dtype=torch.long, device=data.onehot.device)
    onehot = torch.nn.functional.one_hot(index, n_classes).to(data.onehot.dtype)
    blocks = (*layout.blocks, (layout.n_discrete, n_classes))
    layout = layout._replace(blocks=blocks, n_labels=layout.n_labels + n_classes)
    return layout, data._replace(onehot=torch.cat([data.onehot, onehot], dim=1))


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
        maha = (
            (means**2).sum(1) * prec
            - 2.0 * (X @ means.T) * prec
            + torch.outer((X * X).sum(1), prec)
        )
        log_det = d * torch.log(prec_chol)
    return -0.5 * (d * _LOG_2PI + maha) + log_det


class Completion(NamedTuple):
    """Rows sharing one missing pattern: their expected values and residual covariance."""

    rows: torch.Tensor | None  # row indices within the chunk (set by the caller)
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
    loglik: torch.Tensor  # sum of log p(x_n)
    n: int  # rows

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
        sxx = (r * c.x_hat**2).sum(1) + total[:, None] * torch.diagonal(
            c.cond_cov, dim1=-2, dim2=-1
        )
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

    def per_chunk(start: int) -> Stats:
        part = data.rows(slice(start, start + chunk))
        wlp, completions = weighted_log_prob(part, params, cov_type)
        norm = torch.logsumexp(wlp, dim=1)
        stats = chunk_stats(part, torch.exp(wlp - norm[:, None]), completions, matrix)
        stats.loglik = norm.sum()
        return stats

    return summed((per_chunk(start) for start in range(0, len(data.X), chunk)), "e_step")


def summed(parts: Iterable[Stats], what: str) -> Stats:
    """The sum of the statistics of disjoint sets of rows; ``what`` names the caller in
    the error raised when there are none."""
    total: Stats | None = None
    for stats in parts:
        if total is None:
            total = stats
        else:
            total += stats
    if total is None:
        raise ValueError(f"{what} needs at least one row.")
    return total


def stats_from_params(params: Params, n: int, cov_type: str, reg_covar: float) -> Stats:
    """Statistics of ``n`` rows whose :func:`m_step` gives back ``params`` (the rows a
    fitted model has seen, summarised by what it learnt from them)."""
    nk = params.weights * n
    means = params.means
    cov = params.covariances - reg_covar * (
        torch.eye(means.shape[1], dtype=means.dtype, device=means.device)
        if cov_type in ("full", "tied")
        else 1.0
    )
    if cov_type in ("full", "tied"):
        sxx = nk[:, None, None] * (cov + means[:, :, None] * means[:, None, :])
    else:
        spread = cov[:, None] if cov_type == "spherical" else cov
        sxx = nk[:, None] * (spread + means**2)
    zero = torch.zeros((), dtype=means.dtype, device=means.device)
    return Stats(nk, nk[:, None] * means, sxx, nk[:, None] * params.probs, zero, n)


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


def pass_stats(parts: Iterable[MixtureData], params: Params, cov_type: str, chunk: int) -> Stats:
    """:func:`e_step` over every part of the rows (chunks of a table read one by one)."""
    return summed((e_step(part, params, cov_type, chunk) for part in parts), "pass_stats")


def run_em(
    stats_at: Callable[[Params], Stats],
    params: Params,
    config: dict[str, Any],
    blocks: torch.Tensor,
    progress: tqdm | None = None,
) -> tuple[Params, list[float], bool]:
    """EM from ``params`` until the mean log-likelihood changes by less than ``tol``.

    ``stats_at(params)`` is one E-step over all the rows: the rows in memory, a pass
    over chunks, or the sum over processes. Returns the final parameters, the mean
    log-likelihood of each E-step, and whether it converged (the loop of
    ``sklearn.mixture``: E-step, M-step, then the test).
    """
    lower_bounds: list[float] = []
    converged = False
    for _ in range(config["max_iter"]):
        stats = stats_at(params)
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


def sample_gaussians(
    comp: torch.Tensor, params: Params, cov_type: str, generator: torch.Generator
) -> torch.Tensor:
    """x_n ~ N(mu_{comp_n}, Sigma_{comp_n}), shape (n_samples, D)."""
    K, D = params.means.shape
    noise = torch.randn(
        len(comp), D, generator=generator, device=comp.device, dtype=params.means.dtype
    )
    cov = full_covariances(params.covariances, cov_type, K, D)
    L = torch.linalg.cholesky(cov)
    out = params.means[comp].clone()
    for k in range(K):
        rows = (comp == k).nonzero().squeeze(1)
        out[rows] += noise[rows] @ L[k].T
    return out


def label_log_posterior(weights: torch.Tensor, label_probs: torch.Tensor) -> torch.Tensor:
    """log p(k | y) = log w_k + log P_k(y) - log sum_j w_j P_j(y), shape (n_classes, K).

    ``label_probs`` is P_k(y), shape (K, n_classes). A class no component can produce
    has a row of -inf (NaN is avoided).
    """
    joint = torch.log(weights)[None, :] + torch.log(label_probs).T
    norm = torch.logsumexp(joint, dim=1, keepdim=True)
    return joint - torch.where(torch.isfinite(norm), norm, 0.0)


def components_given_labels(
    log_posterior: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """One component per row drawn from ``log_posterior[labels[i]]``, shape (n,); the
    draw is made class by class from each class's posterior (n_classes, K)."""
    comp = torch.empty(len(labels), dtype=torch.long, device=labels.device)
    for c in torch.unique(labels).tolist():
        rows = (labels == c).nonzero().squeeze(1)
        probs = torch.exp(log_posterior[c])
        comp[rows] = torch.multinomial(probs, len(rows), replacement=True, generator=generator)
    return comp


def sample_discrete(
    comp: torch.Tensor,
    probs: torch.Tensor,
    blocks: tuple[tuple[int, int], ...],
    generator: torch.Generator,
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


def observed_mean(data: MixtureData) -> torch.Tensor:
    """Mean of the observed continuous cells, shape (n_cont,)."""
    if data.missing is None:
        return data.X.mean(0)
    observed = (~data.missing).to(data.X.dtype)
    return (data.X * observed).sum(0) / observed.sum(0).clamp_min(1.0)


def shifted(data: MixtureData, shift: torch.Tensor) -> MixtureData:
    """The rows with ``shift`` subtracted from the observed continuous cells.

    EM is equivariant under the shift, and second moments about a point near the mean
    (``observed_mean``) lose no precision.
    """
    X = data.X - shift
    return data._replace(X=X if data.missing is None else X.masked_fill(data.missing, 0.0))


def uniform_probs(n_components: int, blocks: torch.Tensor) -> torch.Tensor:
    """(K, n_discrete) probabilities, uniform within each discrete block."""
    widths = blocks @ blocks.sum(0)  # the width of each one-hot column's block
    return (1.0 / widths).expand(n_components, -1).clone()

"""Exact conditional sampling from a fitted mixture, as pure functions on torch tensors.

Given, per row, observed continuous cells x_o, forced discrete slots c and at most one
continuous cell r restricted to [a, b], the mixture's conditional is again a mixture:

    p(k | x_o, c, a <= x_r <= b)  ~  w_k  prod_j P_kj(c_j)  N(x_o; mu_k,o, S_k,oo)
                                     P_k(a <= x_r <= b | x_o)

and given k, x_r | x_o is a normal with the conditional moments (drawn truncated to
[a, b]), then the other continuous cells given (x_o, x_r) are the conditional Gaussian
and the free discrete blocks are the component's categorical distributions. All is in
the encoded units EM ran in; the Jacobian of the encoding is the same for every
component and cancels. Rows are processed in groups sharing one pattern (which cells
are observed, which is ranged), a handful at most, so the work is vectorised.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import log_ndtr, ndtri_exp

from ._em import MixtureLayout, Params, chunk_size, full_covariances, precision_cholesky
from .exceptions import NumericalError

__all__ = [
    "MixtureConditions",
    "PosteriorGroup",
    "log_normal_interval",
    "mixture_conditions",
    "every_row",
    "every_row_conditions",
    "posterior_groups",
    "sample_given_posterior",
    "truncated_standard_normal",
]

_LOG_2PI = math.log(2.0 * math.pi)


class MixtureConditions(NamedTuple):
    """Conditions on n rows in the mixture's view of a row (tensors on one device)."""

    observed: torch.Tensor  # (n, D) bool: continuous cells given a value
    X: torch.Tensor  # (n, D) those values (0 elsewhere)
    forced: torch.Tensor  # (n, n_discrete) one-hot of forced slots, 0 in free blocks
    free: torch.Tensor  # (n, n_discrete) bool: the cell's block is free in that row
    range_dim: torch.Tensor  # (n,) int64: the ranged continuous cell, -1 for none
    low: torch.Tensor  # (n,) its bounds (-inf/inf when open)
    high: torch.Tensor


def mixture_conditions(
    dense: np.ndarray,
    ranges: list[tuple[int, float, float]],
    layout: MixtureLayout,
    device: torch.device,
    dtype: torch.dtype,
) -> MixtureConditions:
    """Read encoded conditions into the mixture's view.

    Parameters
    ----------
    dense : ndarray of shape (n, n_encoded)
        Fixed encoded values, NaN where free.
    ranges : list of (encoded cell, low, high)
        Range conditions on encoded value cells (at most one is supported by the caller).
    layout : MixtureLayout
    """
    full = torch.as_tensor(dense, device=device)
    cont = full[:, layout.cont]
    flags = full[:, layout.flag_cols]
    pairs = torch.stack([1.0 - flags, flags], dim=2).reshape(len(full), -1)
    discrete = torch.cat([full[:, layout.cat_cols], pairs], dim=1)
    range_dim = torch.full((len(full),), -1, dtype=torch.long, device=device)
    low = torch.full((len(full),), -math.inf, dtype=dtype, device=device)
    high = torch.full((len(full),), math.inf, dtype=dtype, device=device)
    position = {int(cell): d for d, cell in enumerate(layout.cont)}
    for cell, lo, hi in ranges:
        range_dim[:], low[:], high[:] = position[cell], lo, hi
    return MixtureConditions(
        ~torch.isnan(cont),
        torch.nan_to_num(cont, nan=0.0).to(dtype),
        torch.nan_to_num(discrete, nan=0.0).to(dtype),
        torch.isnan(discrete),
        range_dim,
        low,
        high,
    )


# ---------------------------------------------------------------------------------------
# Gaussian conditionals
# ---------------------------------------------------------------------------------------
class GaussianConditional(NamedTuple):
    """x_f | x_o, k ~ N(mu_k,f + (x_o - mu_k,o) @ gain_k, L_k L_k^T) for every k."""

    o: torch.Tensor  # (|o|,) observed cells
    f: torch.Tensor  # (|f|,) the others
    prec_chol_oo: torch.Tensor  # (K, |o|, |o|) precision Cholesky factors of S_oo
    gain: torch.Tensor  # (K, |o|, |f|) S_oo^-1 S_of
    chol_ff: torch.Tensor  # (K, |f|, |f|) Cholesky factor of S_ff - S_fo S_oo^-1 S_of


def gaussian_conditional(cov: torch.Tensor, observed: torch.Tensor) -> GaussianConditional:
    """Conditional Gaussians of the cells not in ``observed`` (a (D,) bool mask), for
    every component of the (K, D, D) covariances; computed in float64."""
    o, f = observed.nonzero().squeeze(1), (~observed).nonzero().squeeze(1)
    cov64 = cov.double()
    S_oo, S_of = cov64[:, o[:, None], o], cov64[:, o[:, None], f]
    gain = torch.cholesky_solve(S_of, _cholesky(S_oo)) if len(o) else S_of
    schur = cov64[:, f[:, None], f] - S_of.mT @ gain
    chol_ff = _cholesky(0.5 * (schur + schur.mT))
    prec_chol_oo = precision_cholesky(S_oo, "full") if len(o) else S_oo
    return GaussianConditional(o, f, *(t.to(cov.dtype) for t in (prec_chol_oo, gain, chol_ff)))


def _cholesky(matrices: torch.Tensor) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(matrices)
    if bool((info != 0).any()):
        raise NumericalError(
            "A conditional covariance of the mixture is not positive definite; refit with "
            "a larger reg_covar."
        )
    return L


def observed_log_density(
    X: torch.Tensor, means: torch.Tensor, cond: GaussianConditional
) -> torch.Tensor:
    """log N(x_o; mu_k,o, S_k,oo) of rows X (n, D), shape (n, K).

    As :func:`hybridgen._em.log_gaussian` ("full"), with the sum over the few observed
    cells as a product with ones: a CPU reduction over a short last axis is ten times
    slower.
    """
    d, K = len(cond.o), means.shape[0]
    if d == 0:
        return torch.zeros(len(X), K, dtype=X.dtype, device=X.device)
    P = cond.prec_chol_oo
    y = X[:, cond.o] @ P.permute(1, 0, 2).reshape(d, K * d)
    y.sub_(torch.einsum("kd,kde->ke", means[:, cond.o], P).reshape(-1)).square_()
    ones = torch.ones(d, 1, dtype=X.dtype, device=X.device)
    maha = (y.view(-1, d) @ ones).view(len(X), K)
    log_det = torch.log(torch.diagonal(P, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * (d * _LOG_2PI + maha) + log_det


# ---------------------------------------------------------------------------------------
# The standard normal on an interval (float64, stable far in the tails)
# ---------------------------------------------------------------------------------------
def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0."""
    with np.errstate(divide="ignore"):
        return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _lower_side(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval mirrored, where needed, so that its low end is <= 0 (its mass then
    sits where the normal CDF is accurate); returns (low, high, mirrored)."""
    mirrored = a > 0
    return np.where(mirrored, -b, a), np.where(mirrored, -a, b), mirrored


def log_normal_interval(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b, accurate in both tails."""
    lo, hi, _ = _lower_side(np.asarray(a, np.float64), np.asarray(b, np.float64))
    log_hi = log_ndtr(hi)
    with np.errstate(invalid="ignore"):
        return log_hi + _log1mexp(log_ndtr(lo) - log_hi)


def truncated_standard_normal(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    """z ~ N(0, 1) restricted to [a, b], by the inverse CDF of uniforms ``u`` in (0, 1),
    computed in log space (exact far in either tail)."""
    lo, hi, mirrored = _lower_side(np.asarray(a, np.float64), np.asarray(b, np.float64))
    log_lo = log_ndtr(lo)
    log_mass = log_normal_interval(lo, hi)
    u = np.asarray(u, np.float64)
    with np.errstate(divide="ignore"):  # mirrored: the upper quantile u is the lower 1 - u
        log_u = np.where(mirrored, np.log1p(-u), np.log(u))
    z = ndtri_exp(np.logaddexp(log_lo, log_u + log_mass))
    z = np.clip(z, lo, hi)
    return np.where(mirrored, -z, z)


# ---------------------------------------------------------------------------------------
# Posterior over components, then the draw
# ---------------------------------------------------------------------------------------
class PosteriorGroup(NamedTuple):
    """Rows sharing one pattern, and their posterior over components."""

    rows: torch.Tensor  # (m,) row indices
    observed: torch.Tensor  # (D,) bool
    range_dim: int  # -1 for none
    logits: torch.Tensor  # (m, K) log p(k, conditions) up to a constant
    range_log_prob: torch.Tensor | None  # (m,) log P(range | other conditions)
    range_mean: torch.Tensor | None  # (m, K) E[x_r | x_o, k]
    range_std: torch.Tensor | None  # (K,) its conditional standard deviation
    shared: bool = False  # every row has the same posterior


def _patterns(cond: MixtureConditions) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """(rows, observed mask, ranged cell) of each distinct pattern."""
    n, D = cond.observed.shape
    key = cond.observed
    if bool((cond.range_dim != cond.range_dim[0]).any()):
        ranged = torch.zeros(n, D + 1, dtype=torch.bool, device=key.device)
        ranged[torch.arange(n, device=key.device), cond.range_dim + 1] = True
        key = torch.cat([key, ranged], dim=1)
    key = key[:, (key != key[0]).any(0)]  # the cells whose role varies between rows
    if key.shape[1] == 0:
        rows = torch.arange(n, device=key.device)
        return [(rows, cond.observed[0], int(cond.range_dim[0]))]
    if key.shape[1] <= 52:  # each pattern as the number its bits spell: a 1-D unique
        powers = 2.0 ** torch.arange(key.shape[1], dtype=torch.float64, device=key.device)
        _, inverse = torch.unique(key.double() @ powers, return_inverse=True)
    else:
        _, inverse = torch.unique(key, dim=0, return_inverse=True)
    patterns = []
    for code in range(int(inverse.max()) + 1):
        rows = (inverse == code).nonzero().squeeze(1)
        patterns.append((rows, cond.observed[rows[0]], int(cond.range_dim[rows[0]])))
    return patterns


def posterior_groups(
    cond: MixtureConditions, params: Params, cov_type: str
) -> list[PosteriorGroup]:
    """The posterior over components of every row, grouped by pattern."""
    K, D = params.means.shape
    cov = full_covariances(params.covariances, cov_type, K, D)
    log_prior = torch.log(params.weights) + cond.forced @ torch.log(params.probs).T
    groups = []
    for rows, observed, r in _patterns(cond):
        gauss = gaussian_conditional(cov, observed)
        chunk = chunk_size(K, len(gauss.o), rows.device)
        parts = [
            _group_logits(cond, params, gauss, rows[i : i + chunk], r, log_prior)
            for i in range(0, len(rows), chunk)
        ]
        logits = torch.cat([p[0] for p in parts])
        log_prob, mean = (_cat([p[j] for p in parts]) for j in (1, 2))
        std = None if r < 0 else _range_std(gauss, int((gauss.f == r).nonzero()))
        groups.append(PosteriorGroup(rows, observed, r, logits, log_prob, mean, std))
    return groups


def every_row(groups: list[PosteriorGroup], inverse: torch.Tensor) -> list[PosteriorGroup]:
    """Posterior groups of distinct rows of conditions as groups of every row: row i has
    the posterior of distinct row ``inverse[i]``. A group of one distinct row is
    broadcast (and marked ``shared``) rather than copied."""
    device = inverse.device
    n_distinct = sum(len(g.rows) for g in groups)
    if n_distinct == len(inverse):  # every row distinct: ``inverse`` is the identity
        return groups
    group_of = torch.empty(n_distinct, dtype=torch.long, device=device)
    position = torch.empty(n_distinct, dtype=torch.long, device=device)
    for i, g in enumerate(groups):
        group_of[g.rows] = i
        position[g.rows] = torch.arange(len(g.rows), device=device)
    row_group = group_of[inverse]
    out = []
    for i, g in enumerate(groups):
        if len(groups) == 1:
            rows = torch.arange(len(inverse), device=device)
        else:
            rows = (row_group == i).nonzero().squeeze(1)
        at = None if len(g.rows) == 1 else position[inverse[rows]]
        logits = _spread(g.logits, at, len(rows))
        assert logits is not None
        out.append(
            g._replace(
                rows=rows,
                logits=logits,
                range_log_prob=_spread(g.range_log_prob, at, len(rows)),
                range_mean=_spread(g.range_mean, at, len(rows)),
                shared=at is None,
            )
        )
    return out


def _spread(t: torch.Tensor | None, at: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Rows ``at`` of ``t``; with ``at`` None, its single row broadcast to ``n`` rows."""
    if t is None:
        return None
    return t.expand(n, *t.shape[1:]) if at is None else t[at]


def every_row_conditions(distinct: MixtureConditions, inverse: torch.Tensor) -> MixtureConditions:
    """The conditions of every row from those of the distinct rows (broadcast when there
    is one)."""
    if len(distinct.X) == len(inverse):  # every row distinct: ``inverse`` is the identity
        return distinct
    if len(distinct.X) == 1:
        return MixtureConditions(*(t.expand(len(inverse), *t.shape[1:]) for t in distinct))
    return MixtureConditions(*(t[inverse] for t in distinct))


def _cat(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    present = [t for t in tensors if t is not None]
    return torch.cat(present) if present else None


def _group_logits(
    cond: MixtureConditions,
    params: Params,
    gauss: GaussianConditional,
    rows: torch.Tensor,
    r: int,
    log_prior: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Logits of one chunk of a group; with a range, also log P(range | others) and the
    conditional means of the ranged cell."""
    X = cond.X[rows]
    logits = log_prior[rows] + observed_log_density(X, params.means, gauss)
    if r < 0:
        return logits, None, None
    at = int((gauss.f == r).nonzero())
    mean = _range_mean(X, params.means, gauss, r, at)
    std = _range_std(gauss, at)
    a = ((cond.low[rows, None] - mean) / std).double().cpu().numpy()
    b = ((cond.high[rows, None] - mean) / std).double().cpu().numpy()
    log_range = torch.as_tensor(log_normal_interval(a, b), device=logits.device)
    with_range = logits + log_range.to(logits.dtype)
    log_prob = torch.logsumexp(with_range.double(), 1) - torch.logsumexp(logits.double(), 1)
    return with_range, log_prob, mean


def _range_mean(
    X: torch.Tensor, means: torch.Tensor, gauss: GaussianConditional, r: int, at: int
) -> torch.Tensor:
    """E[x_r | x_o, k] of rows X (n, D), shape (n, K)."""
    gain = gauss.gain[:, :, at]  # (K, |o|)
    offset = means[:, r] - (means[:, gauss.o] * gain).sum(1)
    return X[:, gauss.o] @ gain.T + offset


def _range_std(gauss: GaussianConditional, at: int) -> torch.Tensor:
    """sd[x_r | x_o, k], shape (K,): the norm of row ``at`` of the Cholesky factor."""
    return (gauss.chol_ff[:, at, :] ** 2).sum(-1).sqrt()


def sample_given_posterior(
    groups: list[PosteriorGroup],
    cond: MixtureConditions,
    params: Params,
    cov_type: str,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Components, then the ranged cell, then the free continuous cells of every row.

    Returns
    -------
    X : tensor of shape (n, D)
        Continuous cells: the given values, the ranged draw, the conditional draws.
    comp : tensor of int64 of shape (n,)
    """
    K, D = params.means.shape
    cov = full_covariances(params.covariances, cov_type, K, D)
    X = cond.X.clone(memory_format=torch.contiguous_format)
    comp = torch.empty(len(X), dtype=torch.long, device=X.device)
    for g in groups:
        c = _draw_components(g.logits, g.shared, generator)
        x, observed = X[g.rows], g.observed
        if g.range_dim >= 0:
            x[:, g.range_dim] = _draw_ranged(g, cond.low[g.rows], cond.high[g.rows], c, generator)
            observed = observed.clone()
            observed[g.range_dim] = True
        X[g.rows] = _draw_free(x, c, params.means, gaussian_conditional(cov, observed), generator)
        comp[g.rows] = c
    return X, comp


def _draw_components(
    logits: torch.Tensor, shared: bool, generator: torch.Generator
) -> torch.Tensor:
    """One component per row from unnormalised log-probabilities (rows of ``logits``);
    with ``shared`` all rows have the first row's."""
    if shared:
        probs = torch.softmax(logits[0], dim=0)
        return torch.multinomial(probs, len(logits), replacement=True, generator=generator)
    cumulative = (logits - logits.max(1, keepdim=True).values).exp_().cumsum_(1)
    u = torch.rand(len(logits), 1, generator=generator, device=logits.device, dtype=logits.dtype)
    below = torch.searchsorted(cumulative, u * cumulative[:, -1:], right=True)  # inverse CDF
    return below.squeeze(1).clamp_max(logits.shape[1] - 1)


def _draw_ranged(
    g: PosteriorGroup,
    low: torch.Tensor,
    high: torch.Tensor,
    comp: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """x_r from the truncated conditional normal of each row's component."""
    assert g.range_mean is not None and g.range_std is not None
    mean = g.range_mean.gather(1, comp[:, None]).squeeze(1)
    std = g.range_std[comp]
    u = torch.rand(len(comp), generator=generator, device=comp.device, dtype=torch.float64)
    a = ((low - mean) / std).double().cpu().numpy()
    b = ((high - mean) / std).double().cpu().numpy()
    z = truncated_standard_normal(a, b, u.cpu().numpy())
    x = mean + std * torch.as_tensor(z, device=mean.device, dtype=mean.dtype)
    return torch.minimum(torch.maximum(x, low), high)


def _draw_free(
    x: torch.Tensor,
    comp: torch.Tensor,
    means: torch.Tensor,
    gauss: GaussianConditional,
    generator: torch.Generator,
) -> torch.Tensor:
    """The cells not observed, from each row's conditional Gaussian; observed cells kept."""
    if len(gauss.f) == 0:
        return x
    noise = torch.randn(len(x), len(gauss.f), generator=generator, device=x.device, dtype=x.dtype)
    order = torch.argsort(comp)  # rows of one component become one slice
    counts = torch.bincount(comp, minlength=means.shape[0]).tolist()
    x_o, noise = x[order][:, gauss.o], noise[order]
    free = torch.empty(len(x), len(gauss.f), dtype=x.dtype, device=x.device)
    start = 0
    for k, count in enumerate(counts):
        rows = slice(start, start + count)
        mean = means[k, gauss.f] + (x_o[rows] - means[k, gauss.o]) @ gauss.gain[k]
        free[rows] = mean + noise[rows] @ gauss.chol_ff[k].T
        start += count
    out = x.clone()
    out[order[:, None], gauss.f] = free
    return out

"""Mode-specific normalisation: 1-D Gaussian mixtures of all numeric columns fitted
together by one vectorised EM, and the encoding of values as (mode, offset)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .exceptions import DataValidationError

#: modes lighter than this are dropped after the mixture fit
MIN_MODE_WEIGHT = 0.005
#: smallest mode standard deviation, as a fraction of the column's standard deviation
STD_FLOOR = 1e-3

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# 1-D Gaussian mixtures of all numeric columns, fitted together (mode-specific encoding)
# ---------------------------------------------------------------------------------------
class _Points(NamedTuple):
    """Observed distinct values of every column, standardised, stacked column after
    column (``starts`` and ``lengths`` delimit each column's block)."""

    points: np.ndarray  # (L,) distinct values, (value - center) / scale
    counts: np.ndarray  # (L,) how often each occurs
    starts: np.ndarray  # (c,) offset of each column's block
    lengths: np.ndarray  # (c,) size of each column's block
    n_obs: np.ndarray  # (c,) observed cells of each column
    center: np.ndarray  # (c,)
    scale: np.ndarray  # (c,)

    def spread(self, params: np.ndarray) -> np.ndarray:
        """Per-column parameters (c, K) repeated over each column's points: (K, L)."""
        return np.repeat(params.T, self.lengths, axis=1)

    def column_sums(self, per_point: np.ndarray) -> np.ndarray:
        """Sums of (K, L) values over each column's points: (c, K)."""
        return np.add.reduceat(per_point, self.starts, axis=1).T


def _compress_columns(values: np.ndarray) -> _Points:
    points, counts, lengths, n_obs, center, scale = [], [], [], [], [], []
    for j in range(values.shape[1]):
        observed = values[:, j][~np.isnan(values[:, j])]
        if observed.size == 0 or not np.isfinite(observed).all():
            raise DataValidationError(
                f"Column {j} of values must hold at least one observed value and no "
                "infinity; NaN marks a missing value."
            )
        distinct, count = np.unique(observed, return_counts=True)
        mean, std = float(observed.mean()), float(observed.std())
        scale_j = std if distinct.size > 1 and std > 0 else 1.0
        points.append((distinct - mean) / scale_j)
        counts.append(count.astype(np.float64))
        lengths.append(distinct.size)
        n_obs.append(observed.size)
        center.append(mean)
        scale.append(scale_j)
    lengths_ = np.asarray(lengths)
    return _Points(
        np.concatenate(points),
        np.concatenate(counts),
        np.cumsum(lengths_) - lengths_,
        lengths_,
        np.asarray(n_obs, dtype=np.float64),
        np.asarray(center),
        np.asarray(scale),
    )


def _initial_modes(data: _Points, max_modes: int) -> tuple[np.ndarray, ...]:
    """Means at quantiles of each column's distinct values (deterministic), equal
    weights, a common width; columns with few distinct values get one mode each."""
    c = data.starts.size
    mu, sd = np.zeros((c, max_modes)), np.ones((c, max_modes))
    logw = np.full((c, max_modes), -np.inf)
    for j in range(c):
        distinct = data.points[data.starts[j] : data.starts[j] + data.lengths[j]]
        k = min(max_modes, distinct.size)
        quantiles = (np.arange(k) + 0.5) / k
        mu[j, :k] = distinct if k == distinct.size else np.quantile(distinct, quantiles)
        sd[j, :k] = max((distinct[-1] - distinct[0]) / (2 * k), STD_FLOOR)
        logw[j, :k] = -math.log(k)
    return mu, sd, logw


def _e_step(
    data: _Points, mu: np.ndarray, sd: np.ndarray, logw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities times counts, shape (K, L), and the mean log-likelihood of each
    column (up to a constant), shape (c,)."""
    z = (data.points - data.spread(mu)) / data.spread(sd)
    logp = data.spread(logw - np.log(sd)) - 0.5 * z * z
    top = logp.max(axis=0)
    resp = np.exp(logp - top)
    total = resp.sum(axis=0)
    resp *= data.counts / total
    loglik = data.counts * (top + np.log(total))
    return resp, np.add.reduceat(loglik, data.starts) / data.n_obs


def _m_step(
    data: _Points, resp: np.ndarray, mu: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, ...]:
    """New (means, stds, log-weights); a mode that lost all its mass is switched off."""
    mass = data.column_sums(resp)
    alive = mass > 1e-12 * data.n_obs[:, None]
    safe = np.where(alive, mass, 1.0)
    new_mu = np.where(alive, data.column_sums(resp * data.points) / safe, mu)
    diff = data.points - data.spread(new_mu)
    var = data.column_sums(resp * diff * diff) / safe
    new_sd = np.where(alive, np.maximum(np.sqrt(var), STD_FLOOR), sd)
    weights = np.where(alive, mass, 0.0)
    with np.errstate(divide="ignore"):
        new_logw = np.log(weights / weights.sum(axis=1, keepdims=True))
    return new_mu, new_sd, new_logw


def fit_mode_mixtures(
    values: np.ndarray,
    max_modes: int,
    *,
    n_iter: int = 100,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a 1-D Gaussian mixture to every column of ``values`` with one vectorised EM.

    Each column is fitted on its distinct observed values weighted by their counts
    (the same likelihood as on all rows, in fewer points) and in standardised units;
    NaN cells are ignored. Means start at quantiles of the column's distinct values, so
    the fit is deterministic. Mode standard deviations are floored at ``STD_FLOOR``
    times the column's standard deviation (an absolute ``STD_FLOOR`` for a constant
    column), so spikes such as a mass of zeros keep a finite density. A column whose
    mean log-likelihood changes by less than ``tol`` stops there, so the result for a
    column does not depend on the other columns.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_columns)
        NaN marks a missing cell; every column needs one observed value.
    max_modes : int
        Modes per column; a column with fewer distinct values gets one per value.
    n_iter : int, default=100
        Maximum EM iterations.
    tol : float, default=1e-6
        Convergence threshold on the change of the mean log-likelihood per column.

    Returns
    -------
    weights, means, stds : ndarrays of shape (n_columns, max_modes)
        Per column, the live modes sorted by mean, then unused slots (weight 0, mean 0,
        std 1).
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    data = _compress_columns(values)
    mu, sd, logw = _initial_modes(data, int(max_modes))
    active = np.ones(values.shape[1], dtype=bool)
    previous = np.full(values.shape[1], -np.inf)
    for iteration in range(n_iter):
        resp, loglik = _e_step(data, mu, sd, logw)
        active &= np.abs(loglik - previous) >= tol
        if not active.any():
            logger.debug("mode mixtures converged after %d iterations", iteration)
            break
        new_mu, new_sd, new_logw = _m_step(data, resp, mu, sd)
        keep = active[:, None]
        mu, sd, logw = (
            np.where(keep, new_mu, mu),
            np.where(keep, new_sd, sd),
            np.where(keep, new_logw, logw),
        )
        previous = loglik
    return _modes_in_original_units(data, mu, sd, _merge_duplicate_modes(mu, sd, logw))


def _merge_duplicate_modes(mu: np.ndarray, sd: np.ndarray, logw: np.ndarray) -> np.ndarray:
    """Log-weights after merging modes that converged to the same mean and width (as
    several do on a spike): the first keeps their summed weight, the others get 0."""
    weights = np.exp(logw)
    for k in range(1, weights.shape[1]):
        for j in range(k):
            same = (
                (weights[:, j] > 0)
                & (np.abs(mu[:, j] - mu[:, k]) <= 1e-6)
                & (np.abs(sd[:, j] - sd[:, k]) <= 1e-6)
            )
            weights[same, j] += weights[same, k]
            weights[same, k] = 0.0
    with np.errstate(divide="ignore"):
        return np.log(weights)


def _modes_in_original_units(
    data: _Points, mu: np.ndarray, sd: np.ndarray, logw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = np.exp(logw)
    live = weights > 0
    means = np.where(live, mu * data.scale[:, None] + data.center[:, None], 0.0)
    stds = np.where(live, sd * data.scale[:, None], 1.0)
    order = np.argsort(np.where(live, means, np.inf), axis=1, kind="stable")
    return (
        np.take_along_axis(weights, order, axis=1),
        np.take_along_axis(means, order, axis=1),
        np.take_along_axis(stds, order, axis=1),
    )


def prune_modes(
    weights: np.ndarray, means: np.ndarray, stds: np.ndarray, min_weight: float = MIN_MODE_WEIGHT
) -> dict[str, np.ndarray]:
    """Keep the modes of one column weighing at least ``min_weight`` (at least the
    heaviest), renormalised.

    Parameters
    ----------
    weights, means, stds : ndarray of shape (n_modes,)

    Returns
    -------
    params : dict with keys "weights", "means", "stds", each of shape (n_kept,)
    """
    keep = weights >= min_weight
    keep[np.argmax(weights)] = True
    kept = weights[keep]
    return {"weights": kept / kept.sum(), "means": means[keep].copy(), "stds": stds[keep].copy()}


def _padded_modes(params: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Stack per-column mode parameters into (c, K_max) arrays (log-weight -inf pads)."""
    width = max(len(p["weights"]) for p in params)
    logw = np.full((len(params), width), -np.inf)
    means, stds = np.zeros_like(logw), np.ones_like(logw)
    for j, p in enumerate(params):
        k = len(p["weights"])
        logw[j, :k], means[j, :k], stds[j, :k] = np.log(p["weights"]), p["means"], p["stds"]
    return logw, means, stds


def encode_modes(
    values: np.ndarray, params: Sequence[Mapping[str, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mode-specific normalisation of numeric columns.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_columns)
        NaN marks a missing cell.
    params : sequence of n_columns dicts with "weights", "means", "stds"

    Returns
    -------
    offsets : ndarray of shape (n_samples, n_columns)
        ``(x - mu_m) / (4 sigma_m)`` for the most probable mode ``m`` (0 when missing).
    modes : ndarray of int of shape (n_samples, n_columns)
        ``m`` (the heaviest mode when missing).
    """
    logw, means, stds = _padded_modes(params)
    missing = np.isnan(values)
    score = np.where(missing, 0.0, values)[:, :, None] - means  # (n, c, K), in place below
    score /= stds
    score *= score
    score *= -0.5
    score += logw - np.log(stds)
    modes = np.where(missing, np.argmax(logw, axis=1), np.argmax(score, axis=2))
    cols = np.arange(values.shape[1])
    offsets = (values - means[cols, modes]) / (4.0 * stds[cols, modes])
    return np.where(missing, 0.0, offsets), modes


def decode_modes(
    offsets: np.ndarray, modes: np.ndarray, params: Sequence[Mapping[str, np.ndarray]]
) -> np.ndarray:
    """Inverse of :func:`encode_modes`: ``offset * 4 sigma_m + mu_m``.

    Parameters
    ----------
    offsets, modes : ndarrays of shape (n_samples, n_columns)
    params : sequence of n_columns dicts with "weights", "means", "stds"

    Returns
    -------
    values : ndarray of shape (n_samples, n_columns)
    """
    _, means, stds = _padded_modes(params)
    cols = np.arange(offsets.shape[1])
    return offsets * 4.0 * stds[cols, modes] + means[cols, modes]

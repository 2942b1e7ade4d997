"""k-means++ seeding and Lloyd iterations in torch, used to initialise mixtures on any device."""

from __future__ import annotations

import torch

__all__ = ["kmeans", "kmeans_plusplus", "nearest_center"]


def _sq_distances(X: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances, shape (n_samples, n_centers)."""
    d = (X * X).sum(1, keepdim=True) - 2.0 * X @ centers.T + (centers * centers).sum(1)
    return d.clamp_min_(0.0)


def nearest_center(X: torch.Tensor, centers: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the closest center for each row, shape (n_samples,)."""
    return torch.cat(
        [_sq_distances(X[i : i + chunk], centers).argmin(1) for i in range(0, len(X), chunk)]
    )


def kmeans_plusplus(X: torch.Tensor, n_clusters: int, generator: torch.Generator) -> torch.Tensor:
    """Row indices of ``n_clusters`` seeds chosen by D^2 sampling (Arthur & Vassilvitskii 2007)."""
    n = X.shape[0]
    first = torch.randint(n, (1,), generator=generator, device=X.device)
    indices = [first]
    closest = _sq_distances(X, X[first]).squeeze(1)
    for _ in range(1, n_clusters):
        total = closest.sum()
        if total <= 0:  # every point already coincides with a seed: pick uniformly
            nxt = torch.randint(n, (1,), generator=generator, device=X.device)
        else:
            nxt = torch.multinomial(closest / total, 1, generator=generator)
        indices.append(nxt)
        closest = torch.minimum(closest, _sq_distances(X, X[nxt]).squeeze(1))
    return torch.cat(indices)


def kmeans(
    X: torch.Tensor, n_clusters: int, generator: torch.Generator, max_iter: int = 100
) -> torch.Tensor:
    """Cluster labels after k-means++ seeding and Lloyd iterations until labels settle.

    Returns
    -------
    labels : tensor of shape (n_samples,), int64
    """
    centers = X[kmeans_plusplus(X, n_clusters, generator)].clone()
    labels = nearest_center(X, centers)
    for _ in range(max_iter):
        counts = torch.bincount(labels, minlength=n_clusters).to(X.dtype)
        sums = torch.zeros_like(centers).index_add_(0, labels, X)
        filled = counts > 0  # an empty cluster keeps its previous center
        centers[filled] = sums[filled] / counts[filled, None]
        new_labels = nearest_center(X, centers)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels

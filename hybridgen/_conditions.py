"""Condition vectors over a table's categorical columns, and training-by-sampling.

A condition names one category of one categorical column ("workclass = Private"). Its
vector is a one-hot over the categories of all categorical columns, column after
column (width C = total number of categories), with the single named category set.

Training-by-sampling (Xu et al. 2019, CTGAN): each training row is drawn by first
choosing a categorical column uniformly, then one of its categories with probability
proportional to log(1 + count), then a row holding that category, uniformly. Rare
categories are thereby seen far more often than their frequency, and every row comes
with the condition it satisfies. At sampling time conditions are drawn with the
categories' empirical frequencies instead, so that sum_c p(c) p(x | c) is the data
distribution again.

Everything here is a tensor operation on the training device.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["CategorySampler", "category_frequencies", "condition_vectors", "draw_conditions"]


def category_frequencies(Z: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Empirical frequency of each category of each categorical column.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_encoded)
        Encoded rows, categorical columns one-hot in ``spans``.
    spans : list of (start, stop)
        Where each categorical column sits in an encoded row.

    Returns
    -------
    probs : ndarray of shape (n_columns, max_categories)
        Row j holds the frequencies of column j's categories, zero-padded.
    """
    width = max((stop - start for start, stop in spans), default=0)
    probs = np.zeros((len(spans), width))
    for j, (start, stop) in enumerate(spans):
        counts = Z[:, start:stop].sum(0)
        probs[j, : stop - start] = counts / max(counts.sum(), 1.0)
    return probs


def condition_vectors(
    columns: torch.Tensor, categories: torch.Tensor, offsets: torch.Tensor, width: int
) -> torch.Tensor:
    """One-hot condition vectors, shape (batch, width).

    ``columns`` (batch,) and ``categories`` (batch,) name the condition of each row;
    ``offsets`` (n_columns,) is where each column's categories start in the vector.
    """
    vectors = torch.zeros(len(columns), width, device=columns.device)
    vectors[torch.arange(len(columns), device=columns.device), offsets[columns] + categories] = 1.0
    return vectors


def draw_conditions(
    probs: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` conditions: a column uniformly, then a category with probabilities
    ``probs`` (n_columns, max_categories) of that column. Returns (columns, categories),
    each of shape (n,)."""
    columns = torch.randint(len(probs), (n,), generator=generator, device=probs.device)
    categories = torch.multinomial(probs[columns], 1, generator=generator).squeeze(1)
    return columns, categories


class CategorySampler:
    """Rows drawn by training-by-sampling from rows whose categories are known.

    Parameters
    ----------
    index : tensor of shape (n_samples, n_columns)
        The category of each row in each categorical column (integers from 0).
    width : int
        The largest number of categories of a column.
    """

    def __init__(self, index: torch.Tensor, width: int):
        n, n_columns = index.shape
        device = index.device
        counts = torch.zeros(n_columns, width, device=device)
        counts.scatter_add_(1, index.T, torch.ones(n_columns, n, device=device))
        log_counts = torch.log1p(counts)
        self.probs = log_counts / log_counts.sum(1, keepdim=True)
        # rows sorted by category within each column; a category's rows are contiguous
        self.order = torch.argsort(index.T, dim=1, stable=True)
        self.counts = counts.long()
        self.starts = torch.cumsum(self.counts, dim=1) - self.counts

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``n`` rows and their conditions: (rows, columns, categories), each (n,)."""
        columns, categories = draw_conditions(self.probs, n, generator)
        count = self.counts[columns, categories]
        u = torch.rand(n, generator=generator, device=self.probs.device)
        within = torch.minimum((u * count).long(), count - 1)
        rows = self.order[columns, self.starts[columns, categories] + within]
        return rows, columns, categories

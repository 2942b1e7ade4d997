"""How the neural estimators learn to condition, and sample under conditions.

A conditional decoder p(x | z, c) is given a condition vector c beside the latent z:

* tables fitted with ``condition_columns``: c encodes the row's values in those
  columns (categories one-hot, numbers standardised, with a missing flag), and the
  decoder generates the other columns. The condition columns themselves are modelled
  by a :class:`~hybridgen.GaussianMixture` fitted on them alone (``condition_prior_``),
  so that

      log p(x) = log p_prior(x_c) + log p(x_rest | x_c),

  the second term estimated by importance sampling as for an unconditional model.
  Training rows are drawn by training-by-sampling over the categorical condition
  columns (:mod:`hybridgen._conditions`), so rare categories are learned as well as
  common ones; this reweights which conditions are seen, not what is learned of
  p(x_rest | x_c).
* images fitted with labels, ``fit(X, y)``: c is the one-hot class, p(y) the classes'
  frequencies (``class_log_prior_``), and ``score_samples`` sums the class out,
  log p(x) = log sum_y p(y) p(x | y), with the importance draws split evenly among
  the classes (``n_importance`` is rounded up to a multiple of the number of classes).

Sampling under ``conditions``: the condition columns are drawn from the prior's exact
conditional (values, categories and ranges, per row or for all rows), then the other
columns from the decoder given them, so those conditions hold by construction.
Conditions on columns outside ``condition_columns`` fall back to rejection: candidates
are drawn and kept when they meet the row's conditions, at most
``MAX_REJECTION_DRAWS`` per row, stopping with a :class:`DataValidationError` as soon
as the conditions prove too rare. A value of a continuous (float) column outside
``condition_columns`` has probability zero and is refused at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from ._columns import _scalar
from ._conditional import EncodedConditions, encode_conditions, impose, satisfied
from ._conditions import CategorySampler
from .distributed import smallest, summed_array
from .exceptions import (
    ConvergenceWarning,
    DataValidationError,
    InvalidParameterError,
    UnseenCategoryWarning,
)

__all__ = ["ConditionalDecoderMixin", "MAX_REJECTION_DRAWS"]

#: the most candidates the rejection fallback draws for one row
MAX_REJECTION_DRAWS = 1000
#: below this acceptance rate (over at least MAX_REJECTION_DRAWS candidates) it gives up
_MIN_ACCEPTANCE = 1.0 / MAX_REJECTION_DRAWS
#: candidates decoded at once by the rejection fallback
_CANDIDATES_PER_ROUND = 1 << 18
#: components of the prior over the condition columns (fewer when fewer distinct rows)
PRIOR_COMPONENTS = 30


class ConditionalDecoderMixin:
    """Conditioning for an estimator with a decoder ``module_.decoder(z, condition)``.

    The estimator provides ``transformer_``, ``condition_columns``, ``latent_dim``,
    ``_decode(z, generator, condition)`` (encoded rows), ``_is_image()``,
    ``_module_device()`` and ``_rng()``; this mixin provides the fitted condition
    state, the condition vectors of training and scored rows, the training-by-sampling
    batches, and ``sample`` under conditions.
    """

    # unconditional until fitted otherwise (and for models saved before conditioning)
    condition_prior_: Any = None
    condition_columns_: list[Hashable] = []  # noqa: RUF012 - replaced, never mutated
    class_log_prior_: np.ndarray | None = None

    # -- fit ----------------------------------------------------------------------------
    def _fit_conditions(
        self, X: Any, labels: np.ndarray | None, rng: np.random.RandomState
    ) -> np.ndarray | None:
        """Fit what the condition vectors need; return those of the training rows,
        shape (n_samples, condition width), or None for an unconditional decoder."""
        from .gmm import GaussianMixture  # the prior is hybridgen's own mixture

        self.condition_prior_ = None
        self.condition_columns_ = []
        self.class_log_prior_ = None
        if labels is not None:
            counts = np.bincount(labels, minlength=len(self.classes_))  # type: ignore[attr-defined]
            counts = summed_array(counts)  # over every process's shard
            self.class_log_prior_ = np.log(counts / counts.sum())
            return np.eye(len(counts))[labels]
        if self.condition_columns is None:  # type: ignore[attr-defined]
            return None
        self.condition_columns_ = self._checked_condition_columns()
        data = self._condition_data(X)
        # every process needs the same number of components: the most any shard needs
        n_distinct = -smallest(-len(pd.DataFrame(data).drop_duplicates()))
        prior = GaussianMixture(
            n_components=max(1, min(n_distinct, PRIOR_COMPONENTS)),
            max_iter=200,
            device="cpu",
            random_state=int(rng.randint(0, 2**31 - 1)),
        )
        with warnings.catch_warnings():  # an approximate prior still conditions exactly
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.condition_prior_ = prior.fit(data)
        return self._condition_vectors(data)

    def _checked_condition_columns(self) -> list[Hashable]:
        name = type(self).__name__
        given = self.condition_columns  # type: ignore[attr-defined]
        if self._is_image():  # type: ignore[attr-defined]
            raise InvalidParameterError(
                f"The 'condition_columns' parameter of {name} applies to tables; images have "
                "no columns. To condition images on a class, pass the labels as y to fit."
            )
        fitted = [spec.name for spec in self.transformer_.columns_]  # type: ignore[attr-defined]
        columns = [_scalar(c) for c in given]
        unknown = [c for c in columns if c not in fitted]
        if unknown or len(set(columns)) != len(columns) or not columns:
            problem = f"names {unknown}, not in the data" if unknown else "is empty or repeats"
            raise InvalidParameterError(
                f"The 'condition_columns' parameter of {name} {problem}; expected distinct "
                f"columns of the data (for an array, integer positions), e.g. "
                f"{fitted[:3]}. Got {given!r} instead."
            )
        if len(columns) == len(fitted):
            raise InvalidParameterError(
                f"The 'condition_columns' parameter of {name} names every column; expected "
                "at least one column left for the decoder to generate."
            )
        return [c for c in fitted if c in columns]  # in the data's order

    def _condition_data(self, X: Any) -> Any:
        """The condition columns of ``X`` (already checked by the transformer): a new
        DataFrame, or a float array for a model fitted on an array."""
        if isinstance(X, pd.DataFrame):
            return X.loc[:, self.condition_columns_]
        positions = np.asarray(self.condition_columns_, dtype=np.int64)  # an array's columns
        return np.asarray(X, dtype=np.float64)[:, positions]

    def _condition_vectors(self, data: Any) -> np.ndarray:
        """Condition vectors of rows of the condition columns, (n, width)."""
        with warnings.catch_warnings():  # the model's own transform has warned already
            warnings.simplefilter("ignore", UnseenCategoryWarning)
            return self.condition_prior_.transformer_.transform(data)  # type: ignore[no-any-return]

    def _has_conditions(self) -> bool:
        """Whether the decoder takes the user's conditions (columns or class labels)."""
        return self.condition_prior_ is not None or self.class_log_prior_ is not None

    def _user_condition_width(self) -> int:
        if self.condition_prior_ is not None:
            return int(self.condition_prior_.transformer_.n_encoded_)
        if self.class_log_prior_ is not None:
            return len(self.class_log_prior_)
        return 0

    def _condition_category_spans(self) -> list[tuple[int, int]]:
        """Where each categorical variable sits in a condition vector."""
        if self.class_log_prior_ is not None:
            return [(0, len(self.class_log_prior_))]
        if self.condition_prior_ is None:
            return []
        layout = self.condition_prior_.transformer_.layout_
        return [(s.start, s.stop) for s in layout if s.kind == "categorical"]

    def _conditioned_batches(self, data: tuple[torch.Tensor, ...], batch_size: int) -> Any | None:
        """Training-by-sampling over the categories of the condition vectors (the last
        tensor of ``data``), or None when there is no categorical condition."""
        spans = self._condition_category_spans()
        if not spans:
            return None
        C = data[-1]
        index = torch.stack([C[:, a:b].argmax(1) for a, b in spans], dim=1)
        sampler = CategorySampler(index, max(b - a for a, b in spans))
        steps = math.ceil(len(C) / batch_size)

        def epoch(generator: torch.Generator) -> Any:
            for _ in range(steps):
                rows = sampler.draw(batch_size, generator)[0]
                yield tuple(t[rows] for t in data)

        return epoch

    # -- likelihood ---------------------------------------------------------------------
    def _class_importance_conditions(
        self, n_rows: int, n_draws: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Labelled images: draw s of every row is given class s mod K, weighted by
        p(y) / q(y) with q uniform over the classes (a stratified estimate of
        sum_y p(y) p(x | y)). Returns the conditions (n_rows * n_draws, K) and
        log p(y_s) - log q(y_s), shape (n_draws,)."""
        assert self.class_log_prior_ is not None
        K = len(self.class_log_prior_)
        classes = torch.arange(n_draws, device=device) % K
        onehot = torch.eye(K, device=device)[classes]
        log_prior = torch.as_tensor(self.class_log_prior_, dtype=torch.float32, device=device)
        return onehot.repeat(n_rows, 1), log_prior[classes] + math.log(K)

    # -- sampling -----------------------------------------------------------------------
    def _drawn_latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, int(self.latent_dim), generator=generator, device=generator.device)  # type: ignore[attr-defined]
        return z.to(self._module_device())  # type: ignore[attr-defined]

    def _class_vectors(self, labels: torch.Tensor) -> torch.Tensor:
        assert self.class_log_prior_ is not None
        eye = torch.eye(len(self.class_log_prior_), device=self._module_device())  # type: ignore[attr-defined]
        return eye[labels.to(eye.device)]

    def _drawn_class_vectors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Classes drawn from p(y), as one-hot condition vectors (n, K)."""
        assert self.class_log_prior_ is not None
        probs = torch.as_tensor(np.exp(self.class_log_prior_), device=generator.device)
        labels = torch.multinomial(probs, n, replacement=True, generator=generator)
        return self._class_vectors(labels)

    @torch.no_grad()
    def _sample_encoded_for_labels(
        self, labels: np.ndarray, generator: torch.Generator
    ) -> np.ndarray:
        condition = self._class_vectors(torch.as_tensor(labels))
        return self._decode(self._drawn_latents(len(labels), generator), generator, condition)  # type: ignore[attr-defined, no-any-return]

    @torch.no_grad()
    def _sample_rows(self, n_samples: int, conditions: Any, generator: torch.Generator) -> Any:
        """Rows of a table, meeting ``conditions`` (see the module docstring)."""
        owner = type(self).__name__
        encoded = None
        if conditions is not None:
            encoded = encode_conditions(self.transformer_, conditions, n_samples, owner)  # type: ignore[attr-defined]
            if encoded.is_empty:
                conditions, encoded = None, None
        if self.condition_prior_ is None and encoded is None:
            return super()._sample_rows(n_samples, None, generator)  # type: ignore[misc]
        prior_part, rest = self._split_conditions(conditions)
        drawn = self._draw_condition_rows(n_samples, prior_part, generator)
        condition = None
        if drawn is not None:
            vectors = self._condition_vectors(drawn)
            condition = torch.as_tensor(vectors, dtype=torch.float32, device=self._module_device())  # type: ignore[attr-defined]
        if rest:
            assert encoded is not None
            X = self._rejection_sample(n_samples, encoded, rest, condition, generator)
        else:
            z = self._drawn_latents(n_samples, generator)
            X = self.transformer_.inverse_transform(self._decode(z, generator, condition))  # type: ignore[attr-defined]
        if drawn is not None:
            X = self._with_condition_columns(X, drawn)
        return X if encoded is None else impose(X, encoded, self.transformer_)  # type: ignore[attr-defined]

    def _split_conditions(self, conditions: Any) -> tuple[Any, list[Hashable]]:
        """(the conditions on condition columns, for the prior; the other columns
        conditioned), the first None when there are none."""
        if conditions is None:
            return None, []
        if isinstance(conditions, pd.DataFrame):
            names = [_scalar(c) for c in conditions.columns]
            mine = [j for j, c in enumerate(names) if c in self.condition_columns_]
            part = conditions.iloc[:, mine] if mine else None
        else:
            assert isinstance(conditions, Mapping)
            names = [_scalar(c) for c in conditions]
            items = {k: v for k, v in conditions.items() if _scalar(k) in self.condition_columns_}
            part = items or None
        return part, [c for c in names if c not in self.condition_columns_]

    def _draw_condition_rows(self, n: int, conditions: Any, generator: torch.Generator) -> Any:
        """Rows of the condition columns drawn from the prior (under ``conditions``)."""
        if self.condition_prior_ is None:
            return None
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
        try:
            return self.condition_prior_.sample(n, random_state=seed, conditions=conditions)
        except DataValidationError as exc:
            raise DataValidationError(
                f"{exc} ({type(self).__name__} draws its condition columns "
                f"{self.condition_columns_} from condition_prior_, a GaussianMixture.)"
            ) from None

    def _with_condition_columns(self, X: Any, drawn: Any) -> Any:
        """``X`` with its condition columns replaced by the rows ``drawn`` from the prior."""
        if isinstance(X, pd.DataFrame):
            for column in self.condition_columns_:
                X[column] = drawn[column].array  # the fitted dtype, categories included
            return X
        X[:, self.condition_columns_] = drawn
        return X

    def _rejection_sample(
        self,
        n: int,
        encoded: EncodedConditions,
        rest: list[Hashable],
        condition: torch.Tensor | None,
        generator: torch.Generator,
    ) -> Any:
        """Decoded rows meeting the conditions on the ``rest`` columns, by rejection:
        rounds of candidates for every pending row, the first that passes kept."""
        self._refuse_continuous_values(encoded, rest)
        chosen: list[Any] = []
        rows_done: list[np.ndarray] = []
        pending = np.arange(n)
        per_row = drawn_total = accepted_total = 0
        multiplier = 1  # one candidate per row first, then as many as the rate asks
        while len(pending):
            m = min(
                multiplier,
                MAX_REJECTION_DRAWS - per_row,
                max(1, _CANDIDATES_PER_ROUND // len(pending)),
            )
            rows = np.repeat(pending, m)
            index = torch.as_tensor(rows, device=self._module_device())  # type: ignore[attr-defined]
            cond = None if condition is None else condition[index]
            Z = self._decode(self._drawn_latents(len(rows), generator), generator, cond)  # type: ignore[attr-defined]
            candidates = self.transformer_.inverse_transform(Z)  # type: ignore[attr-defined]
            ok = satisfied(candidates, encoded, rows, self.transformer_, rest).reshape(-1, m)  # type: ignore[attr-defined]
            hit = ok.any(1)
            first = np.flatnonzero(hit) * m + ok[hit].argmax(1)
            chosen.append(_take(candidates, first))
            rows_done.append(pending[hit])
            per_row += m
            drawn_total += len(rows)
            accepted_total += int(ok.sum())
            pending = pending[~hit]
            rare = (
                drawn_total >= MAX_REJECTION_DRAWS
                and accepted_total < _MIN_ACCEPTANCE * drawn_total
            )
            if len(pending) and (per_row >= MAX_REJECTION_DRAWS or rare):
                raise DataValidationError(
                    f"{type(self).__name__} could not meet the conditions on {rest} for "
                    f"{len(pending)} of {n} rows: {accepted_total} of {drawn_total} candidate "
                    f"rows met them. Columns outside condition_columns "
                    f"({self.condition_columns_}) are conditioned by rejection, which gives up "
                    f"below an acceptance of 1 in {MAX_REJECTION_DRAWS}; add {rest} to "
                    "condition_columns and refit, or relax the conditions."
                )
            rate = accepted_total / drawn_total  # about one hit expected per pending row
            multiplier = max(m + 1, math.ceil(1.0 / rate)) if rate > 0 else 4 * m
        order = np.argsort(np.concatenate(rows_done), kind="stable")
        return _take(_concat(chosen), order)

    def _refuse_continuous_values(self, encoded: EncodedConditions, rest: list[Hashable]) -> None:
        specs = {spec.name: spec for spec in self.transformer_.columns_}  # type: ignore[attr-defined]
        for number in encoded.numbers:
            spec = specs[number.column]
            given = not bool(np.isnan(number.values).all())
            if number.column in rest and spec.kind != "integer" and given:
                raise DataValidationError(
                    f"conditions give continuous column {number.column!r} a value, which "
                    f"{type(self).__name__} can meet only for columns in condition_columns "
                    f"({self.condition_columns_}): a value of a continuous column has "
                    "probability zero, so rejection cannot meet it. Refit with "
                    f"{number.column!r} in condition_columns, or give a range (low, high)."
                )


def _take(X: Any, index: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[index].reset_index(drop=True)
    return X[index]


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)

"""VAEGAN: the VAE with an adversarial discriminator (Larsen et al. 2016).

Three networks, each updated by its own loss only (gradients are taken with respect
to one network's parameters at a time, see :mod:`hybridgen.training`):

- encoder q(z | x):   beta * KL(q(z | x) || p(z)) - log p(x | z) + L_feat
- decoder p(x | z):   -log p(x | z) + gamma * L_feat + adversarial_weight * L_gen
- discriminator D:    L_disc

L_feat is the reconstruction error in the discriminator's feature space (the last
hidden layer of D: half the squared distance between the features of a row and of its
reconstruction, per row), the paper's "learned similarity metric". L_disc and L_gen
are the adversarial losses on real rows against two kinds of fakes, reconstructions
Dec(Enc(x)) and prior samples Dec(z), z ~ N(0, I): with ``adversarial_loss``

- "standard": L_disc = -log D(x) - log(1 - D(fake)); L_gen = -log D(fake)
  (the non-saturating form of the paper's objective);
- "hinge": L_disc = max(0, 1 - D(x)) + max(0, 1 + D(fake)); L_gen = -D(fake);
- "wasserstein-gp": L_disc = D(fake) - D(x) + 10 * gradient penalty; L_gen = -D(fake).

The discriminator's own loss sees the fakes detached (it cannot move the decoder), and
its features are a fixed target in L_feat. Unlike the paper, the decoder keeps the
VAE's likelihood head and its term -log p(x | z): that is what makes ``score`` a valid
estimate of log p(x) in the original data space, computed exactly as for
:class:`~hybridgen.VAE` (importance-weighted, ``n_importance`` draws).

Tables: the discriminator judges encoded rows (the transformer's layout) in packs of
``pac`` (PacGAN) with spectral normalisation. A fake row is a relaxed draw from
p(x | z): Gumbel-softmax (temperature 0.2) for modes, categories and missing flags,
and the chosen mode's offset plus its learned noise, reparameterised; ``sample``
draws the same distribution exactly. With ``training_by_sampling`` (CTGAN's
conditional vector, see :mod:`hybridgen._conditions`) the decoder is also given a
condition c, one category of one categorical column: training rows are drawn by
training-by-sampling, each reconstructed under the condition it satisfies, prior
samples are drawn under the same conditions and penalised by cross-entropy when they
break them, and the discriminator sees the condition beside each row. The model is
then p(x) = sum_c p(c) integral p(z) p(x | z, c) dz with p(c) the conditions'
empirical frequencies; ``sample`` draws c from p(c), and ``score_samples`` estimates
log p(x) with the importance proposal q(c, z | x) = uniform over the categorical
columns, half of the draws naming the row's own category and half drawn from p(c)
(so every condition is covered), times q(z | x); ``n_importance`` is rounded up to a
multiple of twice the number of categorical columns so every column gets the same
draws.

Images: a DCGAN-style convolutional discriminator with spectral normalisation. A
fake image is the decoder's mean image (Bernoulli probabilities, or the logistic
means); ``sample`` returns that image (Bernoulli draws of it for binary data), not
the likelihood's per-pixel noise, as in the paper. Fitted with class labels, the
decoder is given the class (:mod:`hybridgen._conditioning`); the discriminator is
not, and judges realism alone.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _serialization
from ._conditions import (
    CategorySampler,
    category_frequencies,
    condition_vectors,
    draw_conditions,
)
from ._validation import Interval, Options
from .base import torch_generator
from .exceptions import InvalidParameterError
from .networks import (
    Discriminator,
    TableHead,
    conv_discriminator_body,
    table_discriminator_body,
)
from .training import Losses
from .vae import VAE, VAEModule

__all__ = ["VAEGAN"]

GUMBEL_TAU = 0.2
GRADIENT_PENALTY = 10.0


# ---------------------------------------------------------------------------------------
# Adversarial losses: pure functions of the discriminator's logits
# ---------------------------------------------------------------------------------------
def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss the discriminator minimises, from its logits on real and fake inputs."""
    if kind == "standard":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return fake.mean() - real.mean()


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The adversarial loss the generator (decoder) minimises, from logits on its fakes."""
    if kind == "standard":
        return F.softplus(-fake).mean()
    return -fake.mean()


def gradient_penalty(
    discriminator: Discriminator,
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mean of (||grad D(u)|| - 1)^2 at points u between real and fake inputs (Gulrajani
    et al. 2017), one mixing weight per pack of ``discriminator.pac`` rows."""
    pac = discriminator.pac
    alpha = torch.rand(len(real) // pac, generator=generator, device=real.device)
    alpha = alpha.repeat_interleave(pac).view(-1, *[1] * (real.dim() - 1))
    mixed = (alpha * real + (1.0 - alpha) * fake).detach().requires_grad_(True)
    logits, _ = discriminator(mixed)
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    return ((grad.reshape(len(logits), -1).norm(dim=1) - 1.0) ** 2).mean()


# ---------------------------------------------------------------------------------------
# Relaxed draws: what the discriminator sees of a fake table row
# ---------------------------------------------------------------------------------------
def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """A relaxed one-hot draw along the last axis (-inf logits get weight 0)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
    return torch.softmax((logits + gumbel) / tau, dim=-1)


def relaxed_table(
    out: dict[str, torch.Tensor],
    head: TableHead,
    n_encoded: int,
    generator: torch.Generator,
    tau: float = GUMBEL_TAU,
) -> torch.Tensor:
    """A differentiable draw from the decoder's distributions, laid out as encoded
    rows (batch, n_encoded): the relaxation of :func:`hybridgen.vae.sample_table`."""
    n, device, dtype = out["offsets"].shape[0], out["offsets"].device, out["offsets"].dtype
    cols, values = [], []
    if out["offsets"].shape[1]:
        weights = gumbel_softmax(out["mode_logits"], tau, generator)  # (n, Cn, K)
        noise = torch.randn(out["offsets"].shape, generator=generator, device=device, dtype=dtype)
        offsets = (weights * (out["offsets"] + out["log_scales"].exp() * noise)).sum(-1)
        cols += [head.offset_cols, head.mode_cols.flatten()]
        values += [offsets, weights.flatten(1)]
    if out["missing_logits"].shape[1]:
        u = torch.rand(out["missing_logits"].shape, generator=generator, device=device)
        logistic = torch.log(u.clamp(1e-7)) - torch.log1p(-u.clamp(max=1.0 - 1e-7))
        cols.append(head.missing_cols)
        values.append(torch.sigmoid((out["missing_logits"] + logistic) / tau))
    if out["category_logits"].shape[1]:
        cols.append(head.category_cols.flatten())
        values.append(gumbel_softmax(out["category_logits"], tau, generator).flatten(1))
    rows = torch.zeros(n, n_encoded + 1, device=device, dtype=dtype)
    if cols:  # padded positions point at the extra last column, dropped below
        index = torch.cat(cols).expand(n, -1)
        rows = rows.scatter_add(1, index, torch.cat(values, dim=1))
    return rows[:, :n_encoded]


class VAEGANModule(VAEModule):
    """The VAE's encoder and decoder, and a discriminator; ``condition_offsets``
    (n_columns,) and ``condition_probs`` (n_columns, max_categories) describe CTGAN's
    condition vectors when the decoder uses them; ``judged`` (n_encoded,) is 1 on the
    encoded cells the discriminator sees (0 on condition columns, which are given)."""

    condition_offsets: torch.Tensor
    condition_probs: torch.Tensor
    judged: torch.Tensor

    def __init__(
        self,
        vae: VAEModule,
        discriminator: Discriminator,
        condition_widths: list[int],
        condition_probs: np.ndarray,
        judged: np.ndarray,
    ):
        super().__init__(vae.encoder, vae.decoder, vae.image_shape)
        self.discriminator = discriminator
        offsets = np.cumsum([0, *condition_widths])[:-1]
        self.register_buffer(
            "condition_offsets", torch.as_tensor(offsets, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "condition_probs",
            torch.as_tensor(condition_probs, dtype=torch.float32),
            persistent=False,
        )
        self.register_buffer(
            "judged", torch.as_tensor(judged, dtype=torch.float32), persistent=False
        )


# ---------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------
@_serialization.register
class VAEGAN(VAE):
    """VAE with an adversarially trained decoder (Larsen et al. 2016), for tables and
    images, with a likelihood in data space.

    The losses, the conditional vector and what ``sample`` and ``score`` mean are
    described in the module docstring (:mod:`hybridgen.vaegan`).

    Parameters
    ----------
    latent_dim, hidden_dims, beta, architecture, pixel_likelihood, max_modes,
    n_importance, epochs, batch_size, learning_rate, weight_decay, clip_grad_norm,
    early_stopping, validation_fraction, n_iter_no_change, callbacks, verbose,
    device, random_state
        As for :class:`~hybridgen.VAE`; ``learning_rate`` is the encoder's and the
        decoder's. For tables the batch is rounded down to a multiple of ``pac``.
    gamma : float, default=1.0
        Weight of the feature-space reconstruction error in the decoder's loss
        (the paper's gamma; the encoder's weight is 1).
    adversarial_weight : float, default=1.0
        Weight of the adversarial term in the decoder's loss.
    adversarial_loss : {"standard", "hinge", "wasserstein-gp"}, default="standard"
    discriminator_dims : tuple of int, default=(256, 256)
        Hidden widths of the table discriminator (images: DCGAN-style convolutions).
    discriminator_learning_rate : float, default=2e-4
        The discriminator's Adam learning rate (its betas are (0.5, 0.9)).
    pac : int, default=10
        Tables: rows per pack judged together by the discriminator. Training batches
        hold whole packs: the rows that end an epoch short of a pack wait for the next
        epoch's permutation, and a table of fewer rows than a pack is drawn with
        replacement to fill one.
    condition_columns : list of column names or None, default=None
        As for :class:`~hybridgen.VAE`; the discriminator then judges each row's
        generated columns beside its condition vector.
    training_by_sampling : bool, default=True
        Tables with categorical columns: condition the decoder on one category of one
        categorical column per row, with training rows drawn by training-by-sampling
        (CTGAN's conditional vector). False: an unconditional decoder, uniform batches.
        With ``condition_columns`` (or labelled images) the decoder is given those
        conditions instead, training rows drawn by training-by-sampling over their
        categories.

    Attributes
    ----------
    module_ : VAEGANModule
        encoder, decoder and discriminator.
    history_ : list of dict
        Per epoch: "epoch", "train_loss" (negative ELBO per row, given the row's
        condition), "kl", "reconstruction", "feature", "adversarial" (the decoder's
        L_gen), "discriminator" (L_disc), "condition" (cross-entropy of prior samples
        with their conditions), "valid_loss" (with early stopping) and "seconds".
    condition_probs_ : ndarray of shape (n_categorical_columns, max_categories)
        Empirical frequencies of the categories (the conditions' p(c)); empty without
        a conditional decoder.
    n_epochs_, architecture_, pixel_likelihood_, n_features_in_, feature_names_in_,
    transformer_, condition_columns_, condition_prior_, classes_, class_log_prior_
        As for :class:`~hybridgen.VAE`.

    Examples
    --------
    >>> from hybridgen import VAEGAN
    >>> from hybridgen.datasets import make_mixed_table
    >>> df = make_mixed_table(300, random_state=0)
    >>> model = VAEGAN(epochs=2, latent_dim=4, hidden_dims=(32,), random_state=0).fit(df)
    >>> model.sample(3).shape
    (3, 6)
    """

    module_: VAEGANModule
    _best_by_train_loss = False  # without validation data, keep the last epoch

    _quick_params: dict[str, Any] = {
        **VAE._quick_params,
        "discriminator_dims": (16,),
        "pac": 2,
    }

    _parameter_constraints: dict[str, list[Any]] = {
        **VAE._parameter_constraints,
        "gamma": [Interval(Real, 0.0, None, "left")],
        "adversarial_weight": [Interval(Real, 0.0, None, "left")],
        "adversarial_loss": [Options({"standard", "hinge", "wasserstein-gp"})],
        "discriminator_dims": [tuple, list],
        "discriminator_learning_rate": [Interval(Real, 0.0, None, "neither")],
        "pac": [Interval(Integral, 1, None, "left")],
        "training_by_sampling": ["boolean"],
    }

    def __init__(
        self,
        *,
        latent_dim: int = 128,
        hidden_dims: tuple[int, ...] = (128, 128),
        beta: float = 1.0,
        gamma: float = 1.0,
        adversarial_weight: float = 1.0,
        adversarial_loss: str = "standard",
        discriminator_dims: tuple[int, ...] = (256, 256),
        discriminator_learning_rate: float = 2e-4,
        pac: int = 10,
        training_by_sampling: bool = True,
        architecture: str = "auto",
        pixel_likelihood: str = "auto",
        max_modes: int = 10,
        n_importance: int = 64,
        condition_columns: list[Any] | None = None,
        epochs: int = 300,
        batch_size: int = 500,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        clip_grad_norm: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        callbacks: list[Any] | None = None,
        verbose: int = 0,
        device: str = "auto",
        random_state: Any = None,
    ) -> None:
        super().__init__(
            latent_dim=latent_dim,
            hidden_dims=hidden_dims,
            beta=beta,
            architecture=architecture,
            pixel_likelihood=pixel_likelihood,
            max_modes=max_modes,
            n_importance=n_importance,
            condition_columns=condition_columns,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clip_grad_norm=clip_grad_norm,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            callbacks=callbacks,
            verbose=verbose,
            device=device,
            random_state=random_state,
        )
        self.gamma = gamma
        self.adversarial_weight = adversarial_weight
        self.adversarial_loss = adversarial_loss
        self.discriminator_dims = discriminator_dims
        self.discriminator_learning_rate = discriminator_learning_rate
        self.pac = pac
        self.training_by_sampling = training_by_sampling

    # -- data-dependent choices -------------------------------------------------------------
    def _prepare(self, Z: np.ndarray) -> None:
        super()._prepare(Z)
        dims = list(self.discriminator_dims)
        if not dims or not all(isinstance(h, Integral) and h >= 1 for h in dims):
            raise InvalidParameterError(
                "The 'discriminator_dims' parameter of VAEGAN must be a non-empty tuple of "
                f"positive ints. Got {self.discriminator_dims!r} instead."
            )
        spans = self._category_spans()
        conditional = bool(self.training_by_sampling) and bool(spans) and not self._has_conditions()
        self.condition_probs_ = category_frequencies(Z, spans) if conditional else np.zeros((0, 0))

    def _category_spans(self) -> list[tuple[int, int]]:
        if self._is_image():
            return []
        return [(s.start, s.stop) for s in self.transformer_.layout_ if s.kind == "categorical"]

    def _condition_widths(self) -> list[int]:
        """Number of categories of each column a condition can name (none when the
        decoder is unconditional)."""
        if not self.condition_probs_.size:
            return []
        return [stop - start for start, stop in self._category_spans()]

    def _condition_width(self) -> int:
        if self.condition_probs_.size:  # CTGAN's vector: one category of one column
            return sum(self._condition_widths())
        return super()._condition_width()  # the user's conditions, or none

    def _pac(self) -> int:
        return 1 if self._is_image() else int(self.pac)

    # -- networks ---------------------------------------------------------------------------
    def _build_module(self) -> VAEGANModule:
        vae = super()._build_module()
        if self._is_image():
            body, n_features = conv_discriminator_body(tuple(self.transformer_.image_shape_))
        else:
            dims = tuple(int(h) for h in self.discriminator_dims)
            width = (self.transformer_.n_encoded_ + self._condition_width()) * self._pac()
            body, n_features = table_discriminator_body(width, dims), dims[-1]
        discriminator = Discriminator(body, n_features, self._pac())
        judged = np.ones(0 if self._is_image() else self.transformer_.n_encoded_)
        for span in () if self._is_image() else self.transformer_.layout_:
            if span.column in self.condition_columns_:  # given, not generated: not judged
                judged[span.start : span.stop] = 0.0
        return VAEGANModule(
            vae, discriminator, self._condition_widths(), self.condition_probs_, judged
        )

    def _parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "encoder": list(self.module_.encoder.parameters()),
            "decoder": list(self.module_.decoder.parameters()),
            "discriminator": list(self.module_.discriminator.parameters()),
        }

    def _optimizer_options(self) -> dict[str, dict[str, Any]]:
        rate = float(self.learning_rate)
        return {
            "encoder": {"lr": rate},
            "decoder": {"lr": rate},
            "discriminator": {
                "lr": float(self.discriminator_learning_rate),
                "betas": (0.5, 0.9),
            },
        }

    # -- batches and conditions ---------------------------------------------------------
    def _batch_source(self, data: tuple[torch.Tensor, ...], batch_size: int) -> Any:
        """Tables: batches of a multiple of ``pac`` rows; with a conditional decoder,
        rows drawn by training-by-sampling, each batch ending with the tensor of the
        conditioned column of every row (batch,).

        Every step holds at least one pack, so that all three losses are taken (under
        DistributedDataParallel every parameter needs a gradient at every step): the
        rows that end an epoch without filling a pack wait for the next epoch's
        permutation, and fewer rows than a pack are drawn with replacement to fill one."""
        pac = self._pac()
        size = max(pac, batch_size - batch_size % pac)
        if not self.condition_probs_.size:
            uniform = super()._batch_source(data, size)

            def whole_packs(generator: torch.Generator) -> Any:
                if len(data[0]) < pac:
                    n, device = len(data[0]), data[0].device
                    index = torch.randint(n, (pac,), generator=generator, device=device)
                    return iter([tuple(t[index] for t in data)])
                return (part for part in uniform(generator) if len(part[0]) >= pac)

            return whole_packs
        sampler = CategorySampler(data[4], self.condition_probs_.shape[1])
        steps = math.ceil(len(data[0]) / size)

        def epoch(generator: torch.Generator) -> Any:
            for _ in range(steps):
                rows, columns, _ = sampler.draw(size, generator)
                yield (*(t[rows] for t in data), columns)

        return epoch

    def _row_conditions(self, rows: tuple[torch.Tensor, ...], columns: torch.Tensor) -> Any:
        """Condition vectors naming each row's own category in ``columns``, (batch, C)."""
        categories = rows[4].gather(1, columns[:, None]).squeeze(1).clamp_min(0)
        return condition_vectors(
            columns, categories, self.module_.condition_offsets, self._condition_width()
        )

    def _split_batch(
        self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator, batch: bool
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None, torch.Tensor | None]:
        """(row tensors, conditioned columns, condition vectors); the columns end a
        training ``batch`` (see ``_batch_source``), and are drawn uniformly otherwise."""
        if not self.condition_probs_.size:
            return tensors, None, self._user_condition(tensors)
        if batch:
            rows, columns = tensors[:-1], tensors[-1]
        else:
            rows = tensors
            n_columns = len(self.condition_probs_)
            columns = torch.randint(
                n_columns, (len(rows[0]),), generator=generator, device=rows[0].device
            )
        return rows, columns, self._row_conditions(rows, columns)

    # -- losses -------------------------------------------------------------------------------
    def _fake(self, out: Any, generator: torch.Generator) -> torch.Tensor:
        """What the discriminator sees of a decoder output (see the module docstring)."""
        if not self._is_image():
            return relaxed_table(out, self._head(), self.transformer_.n_encoded_, generator)
        if self.pixel_likelihood_ == "bernoulli":
            return torch.sigmoid(out)
        return self._pixel_parameters(out)[0]

    def _judged(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """Discriminator input: images reshaped, table rows with their conditions."""
        if self._is_image():
            return x.view(-1, *self.transformer_.image_shape_)
        if self.condition_columns_:
            x = x * self.module_.judged
        return x if condition is None else torch.cat([x, condition], dim=1)

    def _loss_parts(
        self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Every term of the three losses, as scalars (the discriminator's terms absent
        when the batch holds less than one pack)."""
        rows, columns, condition = self._split_batch(tensors, generator, batch=True)
        log_px, kl, out = self._reconstruct(rows, generator, condition)
        n, latent = len(rows[0]), int(self.latent_dim)
        z = torch.randn(n, latent, generator=generator, device=rows[0].device)
        prior_out = self.module_.decoder(z, condition)
        parts = {"log_px": log_px.mean(), "kl": kl.mean()}
        if columns is not None:
            logits = prior_out["category_logits"][torch.arange(n, device=z.device), columns]
            targets = rows[4].gather(1, columns[:, None]).squeeze(1)
            parts["condition"] = F.cross_entropy(logits, targets)
        pac = self._pac()
        m = n - n % pac
        if m == 0:
            return parts
        cond = None if condition is None else condition[:m]
        real = self._judged(rows[0][:m], cond)
        fakes = torch.cat(
            [
                self._judged(self._fake(out, generator)[:m], cond),
                self._judged(self._fake(prior_out, generator)[:m], cond),
            ]
        )
        discriminator, kind = self.module_.discriminator, self.adversarial_loss
        real_logits, real_features = discriminator(real)
        detached_logits, _ = discriminator(fakes.detach())
        parts["discriminator"] = discriminator_loss(real_logits, detached_logits, kind)
        if kind == "wasserstein-gp" and torch.is_grad_enabled():
            reals = real.repeat(2, *[1] * (real.dim() - 1))
            penalty = gradient_penalty(discriminator, reals, fakes, generator)
            parts["discriminator"] = parts["discriminator"] + GRADIENT_PENALTY * penalty
        fake_logits, fake_features = discriminator(fakes)
        recon_features = fake_features[: m // pac]
        parts["feature"] = (
            0.5 * ((recon_features - real_features.detach()) ** 2).sum(-1).mean() / pac
        )
        parts["adversarial"] = generator_loss(fake_logits, kind)
        return parts

    def _losses(self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator) -> Losses:
        parts = self._loss_parts(tensors, generator)
        zero = torch.zeros((), device=parts["kl"].device)
        feature, adversarial = parts.get("feature", zero), parts.get("adversarial", zero)
        terms = {
            "encoder": self.beta * parts["kl"] - parts["log_px"] + feature,
            "decoder": -parts["log_px"]
            + self.gamma * feature
            + self.adversarial_weight * adversarial
            + parts.get("condition", zero),
        }
        if "discriminator" in parts:
            terms["discriminator"] = parts["discriminator"]
        metrics = {"kl": parts["kl"], "reconstruction": -parts["log_px"]}
        metrics.update({k: v for k, v in parts.items() if k not in ("kl", "log_px")})
        return Losses(terms=terms, objective=parts["kl"] - parts["log_px"], metrics=metrics)

    def _validation_objective(
        self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator
    ) -> torch.Tensor:
        rows, _, condition = self._split_batch(tensors, generator, batch=False)
        log_px, kl, _ = self._reconstruct(rows, generator, condition)
        return (kl - log_px).mean()

    # -- likelihood -----------------------------------------------------------------------
    def _n_importance_draws(self) -> int:
        if not self.condition_probs_.size:
            return super()._n_importance_draws()
        step = 2 * max(len(self.condition_probs_), 1)
        return step * math.ceil(int(self.n_importance) / step)

    def _importance_conditions(
        self, tensors: tuple[torch.Tensor, ...], n_draws: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | float]:
        """The conditions of the importance draws: half of them name the row's own
        category, half are drawn from p(c); the columns cycle through the categorical
        columns in each half. Weighted by p(c) / q(c | x) with q the mixture of the two
        halves, the estimate is unbiased for sum_c p(c) p(x | c) (every condition is
        covered) and converges to log p(x) as ``n_importance`` grows."""
        if not self.condition_probs_.size:
            return super()._importance_conditions(tensors, n_draws)
        n, device = len(tensors[0]), tensors[0].device
        probs = self.module_.condition_probs
        draw = torch.arange(n_draws, device=device)
        columns = draw % len(probs)  # (S,)
        # the same uniform numbers for every row and chunk (common random numbers)
        u = torch.as_tensor(self._rng().random_sample(n_draws), dtype=probs.dtype, device=device)
        cdf = torch.cumsum(probs[columns], dim=1)
        drawn = torch.searchsorted(cdf, u[:, None]).squeeze(1).clamp(max=probs.shape[1] - 1)
        own = tensors[4][:, columns]  # (n, S); -1 for a category unseen at fit
        categories = torch.where(draw < n_draws // 2, own, drawn).clamp_min(0)
        p_c = probs[columns, categories]
        q_c = 0.5 * (categories == own).to(p_c.dtype) + 0.5 * p_c
        flat_columns = columns.repeat(n)
        vectors = condition_vectors(
            flat_columns,
            categories.reshape(-1),
            self.module_.condition_offsets,
            self._condition_width(),
        )
        return vectors, torch.log(p_c) - torch.log(q_c)

    # -- sampling -----------------------------------------------------------------------------
    def _decode(
        self,
        z: torch.Tensor,
        generator: torch.Generator | None,
        condition: torch.Tensor | None = None,
    ) -> np.ndarray:
        if condition is None and self.condition_probs_.size:
            draws = generator if generator is not None else torch_generator(self._rng(), z.device)
            columns, categories = draw_conditions(self.module_.condition_probs, len(z), draws)
            condition = condition_vectors(
                columns, categories, self.module_.condition_offsets, self._condition_width()
            )
        return super()._decode(z, generator, condition)

    def _draw(self, out: Any, generator: torch.Generator | None) -> torch.Tensor:
        if self._is_image() and self.pixel_likelihood_ == "logistic":
            return self._pixel_parameters(out)[0]  # the generator's image, no pixel noise
        return super()._draw(out, generator)

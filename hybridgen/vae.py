"""VAE: a variational autoencoder for tables (MLP) and images (convolutional).

Likelihood in the original data space
-------------------------------------
Tables are encoded with mode-specific normalisation (each numeric column as a 1-D
Gaussian mixture: a value x is the mode m and the offset (x - mu_m) / (4 sigma_m)).
The decoder gives, for every numeric column, mode probabilities pi_m(z), a mean
offset a_m(z) for each mode and a learned scale s_m, so that

    p(x | z) = sum_m pi_m(z) N((x - mu_m) / (4 sigma_m); a_m(z), s_m^2) / (4 sigma_m)

is a density of x in the column's own units (the sum runs over all modes and the
1 / (4 sigma_m) is the Jacobian of the encoding). Categorical and boolean columns
get a softmax, the "is missing" indicator of a numeric column a Bernoulli (a missing
cell contributes log P(missing) and no density).

Images: with ``pixel_likelihood="bernoulli"`` each pixel in [0, 1] is a Bernoulli
probability (exact for binary images, e.g. binarised MNIST stored as 0/255);
``"logistic"`` is a discretised logistic over the 256 levels of uint8 images (a
probability of each level), or a logistic density on [0, 1] for float images.

``score_samples`` estimates log p(x) with the importance-weighted bound of Burda et
al. (2016) using ``n_importance`` samples from q(z | x); the same noise draws are used
for every row (common random numbers), so each row's value depends on that row
only. ``elbo`` gives the evidence lower bound with the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from torch import nn

from . import _serialization
from ._conditioning import ConditionalDecoderMixin
from ._validation import Interval, Options
from .base import torch_generator
from .distributed import all_true
from .exceptions import InvalidParameterError
from .networks import ConvDecoder, ConvEncoder, GaussianEncoder, TableHead, mlp
from .training import Losses, NeuralGenerativeModel

__all__ = ["VAE"]

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------
# Tables: what the layout says, the targets read from encoded rows, the likelihood
# ---------------------------------------------------------------------------------------
def table_spec(transformer: Any, exclude: Collection[Hashable] = ()) -> dict[str, Any]:
    """Index bookkeeping for a table encoded with ``numeric="mode"``: every column but
    those in ``exclude`` (the condition columns a conditional decoder is given)."""
    spans: dict[Any, dict[str, Any]] = {}
    for span in transformer.layout_:
        spans.setdefault(span.column, {})[span.kind] = span
    numeric, categorical = [], []
    for column in transformer.columns_:
        if column.name in exclude:
            continue
        own = spans[column.name]
        if "mode" in own:
            params = transformer.numeric_params_[column.name]
            numeric.append((own["continuous"], own["mode"], own.get("missing"), params))
        else:
            categorical.append(own["categorical"])
    k_max = max((m.width for _, m, _, _ in numeric), default=0)
    means = np.zeros((len(numeric), k_max))
    stds = np.ones((len(numeric), k_max))
    mode_cols = np.full((len(numeric), k_max), transformer.n_encoded_)
    for c, (_, mode, _, params) in enumerate(numeric):
        means[c, : mode.width], stds[c, : mode.width] = params["means"], params["stds"]
        mode_cols[c, : mode.width] = np.arange(mode.start, mode.stop)
    missing = [(c, miss.start) for c, (_, _, miss, _) in enumerate(numeric) if miss is not None]
    cat_cols = np.full(
        (len(categorical), max((s.width for s in categorical), default=0)), transformer.n_encoded_
    )
    for j, span in enumerate(categorical):
        cat_cols[j, : span.width] = np.arange(span.start, span.stop)
    return {
        "modes": [m.width for _, m, _, _ in numeric],
        "n_missing": len(missing),
        "categories": [s.width for s in categorical],
        "offset_cols": np.array([o.start for o, _, _, _ in numeric], dtype=np.int64),
        "mode_cols": mode_cols,
        "means": means,
        "stds": stds,
        "missing_of": np.array([c for c, _ in missing], dtype=np.int64),
        "missing_cols": np.array([col for _, col in missing], dtype=np.int64),
        "category_cols": cat_cols,
    }


def table_targets(Z: torch.Tensor, head: TableHead) -> tuple[torch.Tensor, ...]:
    """From encoded rows (n, n_encoded): (offsets under every mode (n, n_numeric, K),
    observed mask (n, n_numeric), missing flags (n, n_missing), category index
    (n, n_categorical), -1 where the one-hot is empty, i.e. a value unseen at fit)."""
    padded = torch.cat([Z, torch.zeros_like(Z[:, :1])], dim=1)
    n = len(Z)
    mode = _argmax(padded[:, head.mode_cols]).unsqueeze(-1)  # (n, Cn, 1)
    offset = Z[:, head.offset_cols]
    x = offset * 4.0 * head.stds.expand(n, -1, -1).gather(2, mode).squeeze(2)
    x = x + head.means.expand(n, -1, -1).gather(2, mode).squeeze(2)
    offsets = (x[:, :, None] - head.means) / (4.0 * head.stds)
    flags = Z[:, head.missing_cols]
    observed = torch.ones_like(offset, dtype=torch.bool)
    observed[:, head.missing_of] = flags < 0.5
    onehot = padded[:, head.category_cols]
    index = torch.where(onehot.sum(-1) > 0.5, _argmax(onehot), -1)
    return offsets, observed, flags, index


def _argmax(onehots: torch.Tensor) -> torch.Tensor:
    """argmax over the last axis, (n, k, width) -> (n, k), also when k or width is 0."""
    if onehots.shape[-1] == 0:
        return torch.zeros(onehots.shape[:-1], dtype=torch.long, device=onehots.device)
    return onehots.argmax(-1)


def table_log_likelihood(
    out: dict[str, torch.Tensor], targets: tuple[torch.Tensor, ...], stds: torch.Tensor
) -> torch.Tensor:
    """log p(x | z) of each row in the original units, shape (batch,).

    ``stds`` (n_numeric, K) are the modes' sigma_m: -log(4 sigma_m) is the Jacobian.
    """
    log_jacobian = -torch.log(4.0 * stds)
    offsets, observed, flags, index = targets
    log_pi = torch.log_softmax(out["mode_logits"], dim=-1)
    scaled = (offsets - out["offsets"]) * torch.exp(-out["log_scales"])
    log_n = -0.5 * scaled**2 - out["log_scales"] - 0.5 * _LOG_2PI + log_jacobian
    numeric = torch.logsumexp(log_pi + log_n, dim=-1)
    total = torch.where(observed, numeric, torch.zeros_like(numeric)).sum(-1)
    total = total - F.binary_cross_entropy_with_logits(
        out["missing_logits"], flags, reduction="none"
    ).sum(-1)
    log_p = torch.log_softmax(out["category_logits"], dim=-1)
    chosen = log_p.gather(2, index.clamp_min(0)[:, :, None]).squeeze(2)
    chosen = torch.where(index >= 0, chosen, torch.full_like(chosen, -torch.inf))
    return total + chosen.sum(-1)


def sample_table(
    out: dict[str, torch.Tensor], head: TableHead, n_encoded: int, generator: torch.Generator
) -> torch.Tensor:
    """Encoded rows (n, n_encoded) drawn from the decoder's distributions."""
    n, device = out["offsets"].shape[0], out["offsets"].device
    Z = torch.zeros(n, n_encoded + 1, device=device, dtype=out["offsets"].dtype)
    n_num = out["offsets"].shape[1]
    if n_num:
        probs = torch.softmax(out["mode_logits"], -1).reshape(n * n_num, -1)
        mode = torch.multinomial(probs, 1, generator=generator).view(n, n_num, 1)
        noise = torch.randn(n, n_num, generator=generator, device=device, dtype=Z.dtype)
        scale = torch.exp(out["log_scales"]).expand(n, -1, -1).gather(2, mode).squeeze(2)
        Z[:, head.offset_cols] = out["offsets"].gather(2, mode).squeeze(2) + scale * noise
        Z.scatter_(1, head.mode_cols.expand(n, -1, -1).gather(2, mode).squeeze(2), 1.0)
    flags = torch.bernoulli(torch.sigmoid(out["missing_logits"]), generator=generator)
    Z[:, head.missing_cols] = flags
    if out["category_logits"].shape[1]:
        n_cat = out["category_logits"].shape[1]
        probs = torch.softmax(out["category_logits"], -1).reshape(n * n_cat, -1)
        choice = torch.multinomial(probs, 1, generator=generator).view(n, n_cat, 1)
        Z.scatter_(1, head.category_cols.expand(n, -1, -1).gather(2, choice).squeeze(2), 1.0)
    return Z[:, :n_encoded]


def decode_table_mean(
    out: dict[str, torch.Tensor], head: TableHead, n_encoded: int
) -> torch.Tensor:
    """Encoded rows from the most probable mode, category and missingness (no noise)."""
    n, device = out["offsets"].shape[0], out["offsets"].device
    Z = torch.zeros(n, n_encoded + 1, device=device, dtype=out["offsets"].dtype)
    if out["offsets"].shape[1]:
        mode = out["mode_logits"].argmax(-1, keepdim=True)
        Z[:, head.offset_cols] = out["offsets"].gather(2, mode).squeeze(2)
        Z.scatter_(1, head.mode_cols.expand(n, -1, -1).gather(2, mode).squeeze(2), 1.0)
    Z[:, head.missing_cols] = (out["missing_logits"] > 0).to(Z.dtype)
    if out["category_logits"].shape[1]:
        choice = out["category_logits"].argmax(-1, keepdim=True)
        Z.scatter_(1, head.category_cols.expand(n, -1, -1).gather(2, choice).squeeze(2), 1.0)
    return Z[:, :n_encoded]


# ---------------------------------------------------------------------------------------
# Images: pixel likelihoods
# ---------------------------------------------------------------------------------------
def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum over pixels of log Bernoulli(x; sigmoid(logits)), shape (batch,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def logistic_log_likelihood(
    mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, levels: int | None
) -> torch.Tensor:
    """sum over pixels of a logistic log-likelihood, shape (batch,).

    ``levels`` (e.g. 256 for uint8): discretised over the levels of [0, 1], the two end
    bins taking the tails, so each value is a probability (Salimans et al. 2017);
    None: a logistic density of x on [0, 1].
    """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    mid = centred * inv_s
    log_pdf = mid - log_scale - 2.0 * F.softplus(mid)
    if levels is None:
        return log_pdf.sum(-1)
    half = 0.5 / (levels - 1)
    plus, minus = inv_s * (centred + half), inv_s * (centred - half)
    log_cdf_plus = plus - F.softplus(plus)
    log_sf_minus = -F.softplus(minus)
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    inner = torch.where(
        delta > 1e-5, torch.log(delta.clamp_min(1e-12)), log_pdf + math.log(2 * half)
    )
    log_p = torch.where(x < half, log_cdf_plus, torch.where(x > 1 - half, log_sf_minus, inner))
    return log_p.sum(-1)


class _Decoder(nn.Module):
    """latent (batch, L), and optionally a condition vector (batch, C) appended to it,
    -> distribution parameters of a row."""

    def __init__(self, body: nn.Module, head: TableHead | None):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> Any:
        if condition is not None:
            z = torch.cat([z, condition], dim=1)
        h = self.body(z)
        if self.head is not None:
            return self.head(h)
        return h.flatten(1)


class VAEModule(nn.Module):
    """Encoder q(z | x) and decoder p(x | z); ``image_shape`` (C, H, W) when the encoder
    is convolutional (encoded rows are reshaped to images before it)."""

    encoder: GaussianEncoder
    decoder: _Decoder

    def __init__(
        self, encoder: GaussianEncoder, decoder: _Decoder, image_shape: tuple[int, ...] | None
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.image_shape is not None:
            x = x.view(-1, *self.image_shape)
        return self.encoder(x)


# ---------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------
@_serialization.register
class VAE(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    ConditionalDecoderMixin,
    NeuralGenerativeModel,
):
    """Variational autoencoder for tables and images, with a likelihood in data space.

    Parameters
    ----------
    latent_dim : int, default=128
    hidden_dims : tuple of int, default=(128, 128)
        Widths of the encoder's hidden layers (the decoder mirrors them); for the
        convolutional networks, the width of the dense layer next to the latent.
    beta : float, default=1.0
        Weight of the KL term in the training loss (1 is the ELBO).
    architecture : {"auto", "mlp", "conv"}, default="auto"
        "auto": convolutional for images, MLP for tables.
    pixel_likelihood : {"auto", "bernoulli", "logistic"}, default="auto"
        Images only. "auto": Bernoulli when every pixel is at 0 or the maximum, else
        logistic (discretised for uint8). See the module docstring.
    max_modes : int, default=10
        Modes of the per-column mixtures of the mode-specific normalisation.
    n_importance : int, default=64
        Samples of the importance-weighted estimate used by ``score_samples``.
    condition_columns : list of column names or None, default=None
        Tables: columns the decoder is given rather than generates, so that
        ``sample(conditions=...)`` on them is exact (values, categories and ranges,
        per row or for all rows); they are modelled by a GaussianMixture
        (``condition_prior_``). Conditions on other columns fall back to bounded
        rejection. See :mod:`hybridgen._conditioning`. Images condition on class
        labels passed as ``fit(X, y)`` instead.
    epochs : int, default=300
    batch_size : int, default=500
    learning_rate : float, default=1e-3
    weight_decay : float, default=1e-5
    clip_grad_norm : float or None, default=None
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop when their negative ELBO has
        not improved for ``n_iter_no_change`` epochs, and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    callbacks : list of hybridgen.callbacks.Callback or None, default=None
    verbose : int, default=0
        A progress bar over epochs when > 0.
    device : str, default="auto"
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    module_ : VAEModule
        The trained networks.
    history_ : list of dict
        Per epoch: "epoch", "train_loss" (negative ELBO per row), "kl",
        "reconstruction", "valid_loss" (with early stopping) and "seconds".
    n_epochs_ : int
    architecture_ : str
    pixel_likelihood_ : str or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when fitted on a DataFrame with string column names.
    transformer_ : TabularTransformer or ImageTransformer
    condition_columns_ : list
        The condition columns, in the data's order (empty without).
    condition_prior_ : GaussianMixture or None
        The model of the condition columns.
    classes_ : ndarray of shape (n_classes,)
        Images fitted with labels: the classes.
    class_log_prior_ : ndarray of shape (n_classes,) or None
        Images fitted with labels: log frequency of each class.

    Examples
    --------
    >>> from hybridgen import VAE
    >>> from hybridgen.datasets import make_mixed_table
    >>> df = make_mixed_table(300, random_state=0)
    >>> vae = VAE(epochs=2, latent_dim=4, hidden_dims=(32,), random_state=0).fit(df)
    >>> vae.sample(3).shape
    (3, 6)
    """

    module_: VAEModule

    _quick_params: dict[str, Any] = {
        "epochs": 2,
        "batch_size": 64,
        "latent_dim": 2,
        "hidden_dims": (16,),
        "n_importance": 4,
    }

    _parameter_constraints: dict[str, list[Any]] = {
        **NeuralGenerativeModel._training_constraints,
        "latent_dim": [Interval(Integral, 1, None, "left")],
        "hidden_dims": [tuple, list],
        "beta": [Interval(Real, 0.0, None, "left")],
        "architecture": [Options({"auto", "mlp", "conv"})],
        "pixel_likelihood": [Options({"auto", "bernoulli", "logistic"})],
        "max_modes": [Interval(Integral, 1, None, "left")],
        "n_importance": [Interval(Integral, 1, None, "left")],
        "condition_columns": [list, tuple, None],
    }

    def __init__(
        self,
        *,
        latent_dim: int = 128,
        hidden_dims: tuple[int, ...] = (128, 128),
        beta: float = 1.0,
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
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.beta = beta
        self.architecture = architecture
        self.pixel_likelihood = pixel_likelihood
        self.max_modes = max_modes
        self.n_importance = n_importance
        self.condition_columns = condition_columns
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.random_state = random_state

    @property
    def _n_features_out(self) -> int:  # names of transform's outputs: vae0, vae1, ...
        return int(self.latent_dim)

    # -- data -----------------------------------------------------------------------------
    def _transformer_params(self, X: Any) -> dict[str, Any]:
        return {"numeric": "mode", "max_modes": self.max_modes}

    def _is_image(self) -> bool:
        return bool(self.transformer_.input_kind_ == "image")

    def _prepare(self, Z: np.ndarray) -> None:
        """Resolve the data-dependent choices: architecture and pixel likelihood."""
        hidden = list(self.hidden_dims)
        if not hidden or not all(isinstance(h, Integral) and h >= 1 for h in hidden):
            raise InvalidParameterError(
                "The 'hidden_dims' parameter of VAE must be a non-empty tuple of positive "
                f"ints. Got {self.hidden_dims!r} instead."
            )
        image = self._is_image()
        if self.architecture == "conv" and not image:
            raise InvalidParameterError(
                "The 'architecture' parameter of VAE is 'conv', but the data is a table; "
                "use 'mlp' or 'auto'."
            )
        auto_architecture = "conv" if image else "mlp"
        self.architecture_ = auto_architecture if self.architecture == "auto" else self.architecture
        self.pixel_likelihood_ = None
        if image:
            binary = all_true(bool(np.isin(Z, (0.0, 1.0)).all()))  # on every shard
            auto = "bernoulli" if binary else "logistic"
            self.pixel_likelihood_ = (
                auto if self.pixel_likelihood == "auto" else self.pixel_likelihood
            )

    def _tensors(self, Z: np.ndarray, C: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
        """Encoded rows on the module's device, with the table likelihood's targets, and
        the rows' condition vectors ``C`` last when given."""
        Zt = torch.as_tensor(Z, dtype=torch.float32, device=self._module_device())
        tensors = (Zt,) if self._is_image() else (Zt, *table_targets(Zt, self._head()))
        if C is None:
            return tensors
        return (*tensors, torch.as_tensor(C, dtype=torch.float32, device=Zt.device))

    def _user_condition(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """The condition vectors of training rows (their last tensor), if conditioned."""
        return tensors[-1] if self._has_conditions() else None

    def _batch_source(self, data: tuple[torch.Tensor, ...], batch_size: int) -> Any:
        """Training-by-sampling over categorical conditions, else uniform batches."""
        conditioned = self._conditioned_batches(data, batch_size)
        return conditioned or super()._batch_source(data, batch_size)

    def _module_device(self) -> torch.device:
        return next(self.module_.parameters()).device

    def _head(self) -> TableHead:
        head = self.module_.decoder.head
        if head is None:  # pragma: no cover - only tables have a head
            raise TypeError("image models have no table head")
        return head

    # -- networks -------------------------------------------------------------------------
    def _build_module(self) -> VAEModule:
        hidden = tuple(int(h) for h in self.hidden_dims)
        latent = int(self.latent_dim)
        decoder_in = latent + self._condition_width()
        if not self._is_image():
            head = TableHead(table_spec(self.transformer_, exclude=self.condition_columns_))
            body = mlp(self.transformer_.n_encoded_, hidden[:-1], hidden[-1])
            encoder = GaussianEncoder(nn.Sequential(body, nn.ReLU()), hidden[-1], latent)
            decoder = _Decoder(mlp(decoder_in, hidden[::-1], head.n_outputs), head)
            return VAEModule(encoder, decoder, None)
        shape = tuple(self.transformer_.image_shape_)
        n_out = (1 if self.pixel_likelihood_ == "bernoulli" else 2) * shape[0]
        if self.architecture_ == "conv":
            conv = ConvEncoder(shape)
            body = nn.Sequential(conv, nn.Linear(conv.n_features, hidden[-1]), nn.ReLU())
            encoder = GaussianEncoder(body, hidden[-1], latent)
            return VAEModule(
                encoder, _Decoder(ConvDecoder(decoder_in, hidden[-1], shape, n_out), None), shape
            )
        d = int(np.prod(shape))
        body = nn.Sequential(mlp(d, hidden[:-1], hidden[-1]), nn.ReLU())
        encoder = GaussianEncoder(body, hidden[-1], latent)
        decoder = _Decoder(mlp(decoder_in, hidden[::-1], n_out * d // shape[0]), None)
        return VAEModule(encoder, decoder, None)

    def _condition_width(self) -> int:
        """Width of the condition vector appended to the decoder's input."""
        return self._user_condition_width()

    def _parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"vae": list(self.module_.parameters())}

    # -- likelihood -----------------------------------------------------------------------
    def _pixel_parameters(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logistic mean in [0, 1] and log-scale, each (batch, n_pixels)."""
        mean, log_scale = out.view(len(out), 2, -1).unbind(1)
        return torch.sigmoid(mean), log_scale.clamp(-7.0, 2.0)

    def _log_px_given_z(self, out: Any, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """log p(x | z) in the original data space, shape (batch,)."""
        if not self._is_image():
            return table_log_likelihood(out, tensors[1:5], self._head().stds)
        if self.pixel_likelihood_ == "bernoulli":
            return bernoulli_log_likelihood(out, tensors[0])
        levels = 256 if self.transformer_.dtype_ == "uint8" else None
        return logistic_log_likelihood(*self._pixel_parameters(out), tensors[0], levels)

    def _reconstruct(
        self,
        tensors: tuple[torch.Tensor, ...],
        generator: torch.Generator,
        condition: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """One reparameterised pass x -> z -> p(x | z): log p(x | z) and KL(q(z | x) || p(z)),
        each of shape (batch,), and the decoder's output."""
        mean, logvar = self.module_.encode(tensors[0])
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps
        out = self.module_.decoder(z, condition)
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return self._log_px_given_z(out, tensors), kl, out

    def _losses(self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator) -> Losses:
        log_px, kl, _ = self._reconstruct(tensors, generator, self._user_condition(tensors))
        return Losses(
            terms={"vae": -(log_px - self.beta * kl).mean()},
            objective=-(log_px - kl).mean(),
            metrics={"kl": kl.mean(), "reconstruction": -log_px.mean()},
        )

    @torch.no_grad()
    def _importance_terms(self, Z: np.ndarray, C: np.ndarray | None = None) -> torch.Tensor:
        """log p(x, z_s) - log q(z_s | x) for ``n_importance`` draws z_s per row, (n, S),
        given the rows' condition vectors ``C`` when the decoder takes condition columns.

        The standard-normal draws are shared by all rows (common random numbers,
        from ``random_state``), so each row's estimate depends on that row alone.
        """
        S, L = self._n_importance_draws(), int(self.latent_dim)
        device = self._module_device()
        generator = torch_generator(self._rng(), device)
        eps = torch.randn(S, L, generator=generator, device=device)
        log_q_eps = -0.5 * (eps**2).sum(-1) - 0.5 * L * _LOG_2PI  # (S,)
        tensors = self._tensors(Z, C)
        chunk = max(1, 8192 // S)
        parts = []
        for start in range(0, len(Z), chunk):
            part = tuple(t[start : start + chunk] for t in tensors)
            mean, logvar = self.module_.encode(part[0])
            z = mean[:, None] + torch.exp(0.5 * logvar)[:, None] * eps  # (b, S, L)
            log_q = log_q_eps - 0.5 * logvar.sum(-1, keepdim=True)
            log_pz = -0.5 * (z**2).sum(-1) - 0.5 * L * _LOG_2PI
            repeated = tuple(t.repeat_interleave(S, dim=0) for t in part)
            condition, log_pc_over_qc = self._importance_conditions(part, S)
            out = self.module_.decoder(z.reshape(-1, L), condition)
            log_px = self._log_px_given_z(out, repeated)
            parts.append(log_px.view(-1, S) + log_pz - log_q + log_pc_over_qc)
        return torch.cat(parts).double()

    def _n_importance_draws(self) -> int:
        if self.class_log_prior_ is not None:  # the same number of draws for every class
            K = len(self.class_log_prior_)
            return K * math.ceil(int(self.n_importance) / K)
        return int(self.n_importance)

    def _importance_conditions(
        self, tensors: tuple[torch.Tensor, ...], n_draws: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | float]:
        """Condition vectors of the ``n_draws`` importance draws of each row, shape
        (batch * n_draws, C), and log p(c) - log q(c | x), broadcastable to (batch,
        n_draws): the row's own condition vector (the last tensor) for condition
        columns, classes in turn for labelled images; none (and 0) when unconditional."""
        n, device = len(tensors[0]), tensors[0].device
        if self.class_log_prior_ is not None:
            return self._class_importance_conditions(n, n_draws, device)
        if self.condition_prior_ is not None:
            return tensors[-1].repeat_interleave(n_draws, dim=0), 0.0
        return None, 0.0

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row in the original data space (nats), estimated by
        importance sampling (see the module docstring).

        With ``condition_columns`` it is log p(x_c) + log p(x_rest | x_c): the condition
        columns under ``condition_prior_`` plus the decoder's estimate of the rest.
        Images fitted with labels: log p(x), the class summed out.

        Parameters
        ----------
        X : data of the kind fitted, n_samples rows

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        return super().score_samples(X)

    def _score_rows(self, X: Any) -> np.ndarray:
        terms, log_prior = self._terms_and_prior(X)
        return _log_mean_exp(terms) + log_prior

    def _terms_and_prior(self, X: Any) -> tuple[torch.Tensor, np.ndarray | float]:
        """Importance terms (n, S) of the generated part of each row, and the condition
        columns' log-likelihood under the prior (0 without condition columns)."""
        Z = self._encode(X)
        if self.condition_prior_ is None:
            return self._importance_terms(Z), 0.0
        data = self._condition_data(X)
        terms = self._importance_terms(Z, self._condition_vectors(data))
        return terms, self.condition_prior_.score_samples(data)

    def elbo(self, X: Any) -> np.ndarray:
        """Evidence lower bound of each row (nats, original data space), averaged over
        ``n_importance`` draws; ``score_samples`` is the tighter importance-weighted bound.

        Parameters
        ----------
        X : data of the kind fitted, n_samples rows

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
        """
        terms, log_prior = self._terms_and_prior(X)
        return terms.mean(1).cpu().numpy() + log_prior

    # -- sampling and the latent space ----------------------------------------------------
    def _decode(
        self,
        z: torch.Tensor,
        generator: torch.Generator | None,
        condition: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Encoded rows from latents: drawn from p(x | z), or its mode when no generator."""
        return self._draw(self.module_.decoder(z, condition), generator).double().cpu().numpy()

    def _draw(self, out: Any, generator: torch.Generator | None) -> torch.Tensor:
        """Encoded rows from the decoder's output: a draw, or the mode when no generator."""
        if not self._is_image():
            head, width = self._head(), self.transformer_.n_encoded_
            Z = (
                decode_table_mean(out, head, width)
                if generator is None
                else sample_table(out, head, width, generator)
            )
        elif self.pixel_likelihood_ == "bernoulli":
            probs = torch.sigmoid(out)
            Z = probs if generator is None else torch.bernoulli(probs, generator=generator)
        else:
            mean, log_scale = self._pixel_parameters(out)
            Z = mean
            if generator is not None:
                u = torch.rand(mean.shape, generator=generator, device=mean.device).clamp(
                    1e-6, 1 - 1e-6
                )
                Z = (mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))).clamp(0.0, 1.0)
        return Z

    @torch.no_grad()
    def _sample_encoded(self, n_samples: int, generator: torch.Generator) -> np.ndarray:
        z = self._drawn_latents(n_samples, generator)
        if self.class_log_prior_ is not None:  # a class from p(y), then the image
            return self._decode(z, generator, self._drawn_class_vectors(n_samples, generator))
        return self._decode(z, generator)

    @torch.no_grad()
    def transform(self, X: Any) -> np.ndarray:
        """Latent means E[z | x] (a dimensionality reduction usable in a Pipeline).

        Parameters
        ----------
        X : data of the kind fitted, n_samples rows

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        x = torch.as_tensor(self._encode(X), dtype=torch.float32, device=self._module_device())
        return self.module_.encode(x)[0].double().cpu().numpy()

    @torch.no_grad()
    def inverse_transform(self, Z: Any) -> Any:
        """Decode latent vectors to data of the kind fitted (most probable values).

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        X : data of the kind fitted, n_samples rows
        """
        self._check_fitted()
        if self._has_conditions():
            raise InvalidParameterError(
                f"{type(self).__name__}.inverse_transform decodes latents of an unconditional "
                "model; this one was fitted with condition_columns or class labels, and its "
                "decoder needs them: use sample(conditions=...)."
            )
        z = torch.as_tensor(np.asarray(Z, dtype=np.float32), device=self._module_device())
        if z.ndim != 2 or z.shape[1] != int(self.latent_dim):
            raise InvalidParameterError(
                f"VAE.inverse_transform expects an array of shape (n_samples, {self.latent_dim}); "
                f"got shape {tuple(z.shape)}."
            )
        return self.transformer_.inverse_transform(self._decode(z, None))


def _log_mean_exp(terms: torch.Tensor) -> np.ndarray:
    """log of the mean of exp(terms) over draws (axis 1), shape (n,)."""
    return (torch.logsumexp(terms, dim=1) - math.log(terms.shape[1])).cpu().numpy()

"""VAEGAN: the adversarial losses' signs, which network each loss moves, spectral
normalisation, training-by-sampling, relaxed draws and the likelihood."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hybridgen import VAE, VAEGAN, load
from hybridgen._conditions import CategorySampler
from hybridgen.networks import SpectralNorm
from hybridgen.vae import TableHead, table_spec
from hybridgen.vaegan import (
    discriminator_loss,
    generator_loss,
    gumbel_softmax,
    relaxed_table,
)

from .conftest import requires_cuda

KINDS = ["standard", "hinge", "wasserstein-gp"]


def small(**extra):
    params = {
        "epochs": 2,
        "batch_size": 64,
        "latent_dim": 3,
        "hidden_dims": (16,),
        "discriminator_dims": (16,),
        "pac": 4,
        "n_importance": 8,
        "device": "cpu",
        "random_state": 0,
    }
    return VAEGAN(**{**params, **extra})


@pytest.mark.parametrize("kind", KINDS)
def test_adversarial_losses_push_each_side_its_own_way(kind):
    real = torch.zeros(6, requires_grad=True)
    fake = torch.zeros(6, requires_grad=True)
    d_real, d_fake = torch.autograd.grad(discriminator_loss(real, fake, kind), (real, fake))
    (g_fake,) = torch.autograd.grad(generator_loss(fake, kind), (fake,))
    # gradient descent raises the discriminator's logit on real rows and lowers it on
    # fakes; the generator's descent raises the logit on its fakes
    assert (d_real < 0).all() and (d_fake > 0).all()
    assert (g_fake < 0).all()


def _batch(model, frame):
    data = model._tensors(model._fit_transformer(frame))
    source = model._batch_source(data, 64)
    return next(iter(source(torch.Generator().manual_seed(1))))


def _parts(model, batch, seed=7):
    return model._loss_parts(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_each_network_is_moved_only_by_its_own_adversarial_gradient(mixed_frame, kind):
    model = small(adversarial_loss=kind).fit(mixed_frame)
    model.module_.eval()  # a fixed spectral-norm estimate, so losses can be compared
    batch = _batch(model, mixed_frame)
    groups = model._parameter_groups()

    parts = _parts(model, batch)
    # the discriminator's loss sees detached fakes: no gradient reaches the others
    for name in ("encoder", "decoder"):
        grads = torch.autograd.grad(
            parts["discriminator"], groups[name], allow_unused=True, retain_graph=True
        )
        assert all(g is None for g in grads), name

    def step(name, loss_name, size=1e-3):
        parts = _parts(model, batch)
        grads = torch.autograd.grad(parts[loss_name], groups[name], allow_unused=True)
        with torch.no_grad():
            for p, g in zip(groups[name], grads, strict=True):
                if g is not None:
                    p -= size * g
        return parts[loss_name].item(), _parts(model, batch)[loss_name].item()

    before, after = step("discriminator", "discriminator")
    assert after < before  # the discriminator got better at telling real from fake
    d_loss = _parts(model, batch)["discriminator"].item()
    before, after = step("decoder", "adversarial")
    assert after < before  # the decoder fooled the discriminator more ...
    assert _parts(model, batch)["discriminator"].item() > d_loss  # ... making its loss worse


def test_decoder_term_holds_the_adversarial_gradient_with_its_weight(mixed_frame):
    """The decoder's total loss is the likelihood and feature terms plus
    adversarial_weight times the generator loss: nothing of the discriminator's."""
    model = small().fit(mixed_frame)
    model.module_.eval()
    batch = _batch(model, mixed_frame)
    decoder = model._parameter_groups()["decoder"]

    def grads(weight):
        model.set_params(adversarial_weight=weight)
        terms = model._losses(batch, torch.Generator().manual_seed(3)).terms
        return torch.autograd.grad(terms["decoder"], decoder, allow_unused=True)

    parts = _parts(model, batch, seed=3)
    adversarial = torch.autograd.grad(parts["adversarial"], decoder, allow_unused=True)
    for with_adv, without, g in zip(grads(2.0), grads(0.0), adversarial, strict=True):
        if g is None:
            continue
        torch.testing.assert_close(with_adv - without, 2.0 * g, rtol=1e-4, atol=1e-6)


def test_spectral_norm_divides_by_the_largest_singular_value():
    torch.manual_seed(0)
    layer = SpectralNorm(torch.nn.Linear(7, 5))
    for _ in range(50):  # power iterations run in training forwards
        layer(torch.randn(3, 7))
    sigma = torch.linalg.matrix_norm(layer.layer.weight.detach(), ord=2)
    x = torch.randn(4, 7)
    expected = F.linear(x, layer.layer.weight / sigma, layer.layer.bias)
    torch.testing.assert_close(layer.eval()(x), expected, rtol=1e-4, atol=1e-5)

    conv = SpectralNorm(torch.nn.Conv2d(2, 3, 3, padding=1))
    for _ in range(50):
        conv(torch.randn(1, 2, 5, 5))
    sigma = torch.linalg.matrix_norm(conv.layer.weight.detach().flatten(1), ord=2)
    x = torch.randn(2, 2, 5, 5)
    expected = F.conv2d(x, conv.layer.weight / sigma, conv.layer.bias, padding=1)
    torch.testing.assert_close(conv.eval()(x), expected, rtol=1e-4, atol=1e-5)


def test_every_step_holds_a_whole_pack():
    """Batches are whole packs (a step without one would have no discriminator loss):
    rows that end an epoch short of a pack wait for the next epoch."""
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = small(pac=4, epochs=1).fit(X)

    def sizes(n: int) -> list[int]:
        data = model._tensors(model.transformer_.transform(X[:n]))
        epoch = model._batch_source(data, 9)(torch.Generator().manual_seed(0))
        return [len(part[0]) for part in epoch]

    assert sizes(30) == [8, 8, 8, 6]  # batches of 8 rows (2 packs), the last of 6
    assert sizes(27) == [8, 8, 8]  # 27 = 3 x 8 + 3: the last 3 rows wait
    assert sizes(3) == [4]  # fewer rows than a pack: one pack drawn with replacement
    data = model._tensors(model.transformer_.transform(X[:27]))
    for part in model._batch_source(data, 9)(torch.Generator().manual_seed(0)):
        assert "discriminator" in model._losses(part, torch.Generator()).terms


def test_training_by_sampling_draws_log_frequencies_and_matching_rows():
    rng = np.random.default_rng(0)
    counts = [900, 90, 9, 1]
    first = np.repeat(np.arange(4), counts)
    second = rng.integers(0, 2, len(first))
    index = torch.as_tensor(np.stack([first, second], 1))
    sampler = CategorySampler(index, width=4)
    rows, columns, categories = sampler.draw(200_000, torch.Generator().manual_seed(0))
    # every drawn row holds the category it was drawn for
    assert torch.equal(index[rows, columns], categories)
    assert abs(columns.float().mean().item() - 0.5) < 0.01
    observed = np.bincount(categories[columns == 0].numpy(), minlength=4)
    expected = np.log1p(counts) / np.log1p(counts).sum()
    np.testing.assert_allclose(observed / observed.sum(), expected, atol=0.01)


def test_relaxed_draws_follow_the_decoder_probabilities(mixed_frame):
    model = small().fit(mixed_frame)
    head: TableHead = model._head()
    n = 20_000
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5]])
    weights = gumbel_softmax(logits.expand(n, -1), 0.2, torch.Generator().manual_seed(0))
    hard = np.bincount(weights.argmax(1).numpy(), minlength=4) / n
    np.testing.assert_allclose(hard, torch.softmax(logits, 1)[0].numpy(), atol=0.015)
    # a relaxed row has the layout of an encoded row: one-hot-like spans summing to one
    spec = table_spec(model.transformer_)
    with torch.no_grad():
        out = model.module_.decoder(
            torch.zeros(5, 3),
            model._row_conditions(_rows(model, mixed_frame, 5), torch.zeros(5, dtype=torch.long)),
        )
        rows = relaxed_table(out, head, model.transformer_.n_encoded_, torch.Generator())
    for span in model.transformer_.layout_:
        if span.kind in ("mode", "categorical"):
            torch.testing.assert_close(rows[:, span.start : span.stop].sum(1), torch.ones(5))
    assert len(spec["categories"]) == len(model.condition_probs_)


def _rows(model, frame, n):
    return tuple(t[:n] for t in model._tensors(model.transformer_.transform(frame)))


def test_conditional_model_samples_its_conditions_with_their_frequencies(mixed_frame):
    model = small(epochs=30).fit(mixed_frame)
    assert model.condition_probs_.shape[0] == 3  # member, city and size
    np.testing.assert_allclose(model.condition_probs_.sum(1), 1.0)
    out = model.sample(2000, random_state=0)
    for column in ("member", "city", "size"):
        real = mixed_frame[column].value_counts(normalize=True)
        fake = out[column].value_counts(normalize=True).reindex(real.index, fill_value=0)
        assert (real - fake).abs().sum() / 2 < 0.15, column


@pytest.mark.parametrize(
    ("cls", "extra"),
    [
        (VAE, {}),
        (VAEGAN, {"pac": 2, "discriminator_dims": (16,)}),
        (VAEGAN, {"pac": 2, "discriminator_dims": (16,), "training_by_sampling": False}),
    ],
)
def test_probabilities_of_all_possible_rows_sum_to_one(cls, extra):
    """A table of two categorical columns: exp(score_samples) over its six possible rows
    is a distribution; with many importance draws it sums to one."""
    rng = np.random.default_rng(0)
    a = rng.choice(["x", "y"], 400, p=[0.8, 0.2])
    b = np.where(
        a == "x", rng.choice(list("pqr"), 400, p=[0.6, 0.3, 0.1]), rng.choice(list("pqr"), 400)
    )
    frame = pd.DataFrame({"a": pd.Categorical(a), "b": pd.Categorical(b)})
    every = pd.DataFrame(list(itertools.product("xy", "pqr")), columns=["a", "b"]).astype(
        frame.dtypes.to_dict()
    )
    params = {"epochs": 15, "latent_dim": 2, "hidden_dims": (16,), "batch_size": 50}
    model = cls(**params, n_importance=1000, random_state=0, device="cpu", **extra).fit(frame)
    total = np.exp(model.score_samples(every)).sum()
    assert 0.97 < total < 1.01


def test_image_vaegan_samples_generator_images(digits_like):
    model = small(latent_dim=2).fit(digits_like)
    assert model.pixel_likelihood_ == "logistic"
    out = model.sample(4, random_state=0)
    assert out.shape == (4, 8, 8) and out.dtype == np.uint8
    assert np.isfinite(model.score_samples(digits_like[:5])).all()


@pytest.fixture
def digits_like(rng):
    images = rng.integers(0, 60, (96, 8, 8)).astype(np.uint8)
    images[:48, 2:6, 2:4] = 220
    return images


def test_wasserstein_gradient_penalty_trains(mixed_frame):
    model = small(adversarial_loss="wasserstein-gp").fit(mixed_frame)
    assert np.isfinite([h["discriminator"] for h in model.history_]).all()
    assert model.n_epochs_ == 2


def test_bad_discriminator_dims_are_named(mixed_frame):
    with pytest.raises(ValueError, match="'discriminator_dims' parameter of VAEGAN"):
        small(discriminator_dims=(0,)).fit(mixed_frame)


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["standard", "wasserstein-gp"])
def test_adversarial_step_runs_on_cuda_and_model_loads_on_cpu(mixed_frame, tmp_path, kind):
    model = small(device="cuda", adversarial_loss=kind).fit(mixed_frame)
    assert all(p.is_cuda for p in model.module_.discriminator.parameters())
    assert model.module_.condition_probs.is_cuda
    assert model.sample(5).shape == (5, mixed_frame.shape[1])
    model.save(tmp_path / "gpu.hg")
    on_cpu = load(tmp_path / "gpu.hg", device="cpu")
    np.testing.assert_allclose(
        on_cpu.score_samples(mixed_frame), model.score_samples(mixed_frame), rtol=1e-4
    )

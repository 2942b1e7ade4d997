"""VAE: its likelihoods against closed forms, images, the latent space, pipelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from hybridgen import VAE, bits_per_dim, load
from hybridgen.exceptions import InvalidParameterError, UnseenCategoryWarning
from hybridgen.networks import TableHead
from hybridgen.transform import TabularTransformer
from hybridgen.vae import (
    bernoulli_log_likelihood,
    logistic_log_likelihood,
    table_log_likelihood,
    table_spec,
    table_targets,
)

from .conftest import requires_cuda

QUICK = {
    "epochs": 2,
    "batch_size": 32,
    "latent_dim": 2,
    "hidden_dims": (16,),
    "device": "cpu",
    "random_state": 0,
}


def test_table_likelihood_is_the_mixture_density_in_original_units(rng):
    df = pd.DataFrame(
        {
            "x": np.concatenate([rng.normal(0, 1, 200), rng.normal(10, 2, 200)]),
            "c": rng.choice(["a", "b"], 400),
        }
    )
    t = TabularTransformer(numeric="mode", max_modes=2).fit(df)
    head = TableHead(table_spec(t))
    Z = torch.as_tensor(t.transform(df), dtype=torch.float32)
    targets = table_targets(Z, head)
    params = t.numeric_params_["x"]
    K = len(params["means"])
    out = {
        "mode_logits": torch.log(torch.tensor([0.3, 0.7][:K])).expand(len(df), 1, K),
        "offsets": torch.full((len(df), 1, K), 0.1),
        "log_scales": torch.full((1, K), -1.0),
        "missing_logits": torch.zeros(len(df), 0),
        "category_logits": torch.tensor([0.0, float(np.log(3.0))]).expand(len(df), 1, 2),
    }
    got = table_log_likelihood(out, targets, head.stds).numpy()
    x = df["x"].to_numpy()
    mu, sd = params["means"], params["stds"]
    pi = np.array([0.3, 0.7][:K]) / np.sum([0.3, 0.7][:K])
    # density of x: a mixture over modes of N(offset; 0.1, e^-2), mapped by x = 4 sd o + mu
    dens = sum(
        pi[m] * norm(mu[m] + 4 * sd[m] * 0.1, 4 * sd[m] * np.exp(-1.0)).pdf(x) for m in range(K)
    )
    p_cat = np.where(df["c"] == "a", 0.25, 0.75)
    np.testing.assert_allclose(got, np.log(dens) + np.log(p_cat), rtol=1e-4)


def test_unseen_category_is_impossible(mixed_frame):
    vae = VAE(**QUICK).fit(mixed_frame)
    row = mixed_frame.iloc[:2].copy()
    row["city"] = pd.Series(["atlantis", "north"], dtype="str", index=row.index)
    with pytest.warns(UnseenCategoryWarning):
        ll = vae.score_samples(row)
    assert ll[0] == -np.inf and np.isfinite(ll[1])


def test_discretised_logistic_is_a_distribution_over_256_levels():
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    for mean, log_scale in [(0.3, -3.0), (0.0, -1.0), (0.99, -5.0)]:
        m = torch.full((256, 1), mean, dtype=torch.float64)
        s = torch.full((256, 1), log_scale, dtype=torch.float64)
        log_p = logistic_log_likelihood(m, s, levels[:, None], levels=256)
        assert torch.exp(log_p).sum().item() == pytest.approx(1.0, abs=1e-6)


def test_bernoulli_against_closed_form(rng):
    logits = rng.normal(size=(5, 7))
    x = (rng.random((5, 7)) > 0.5).astype(float)
    got = bernoulli_log_likelihood(torch.as_tensor(logits), torch.as_tensor(x)).numpy()
    p = expit(logits)
    np.testing.assert_allclose(got, (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1), rtol=1e-10)


def test_importance_weighted_bound_is_above_the_elbo(mixed_frame):
    vae = VAE(**{**QUICK, "n_importance": 16}).fit(mixed_frame)
    iwae, elbo = vae.score_samples(mixed_frame), vae.elbo(mixed_frame)
    assert np.all(iwae >= elbo - 1e-6)
    # the same rows always get the same estimate (common random numbers)
    np.testing.assert_array_equal(vae.score_samples(mixed_frame.iloc[5:9]), iwae[5:9])


@pytest.mark.parametrize("shape", [(30, 8, 8), (20, 1, 28, 28)])
def test_conv_images_of_both_sizes(shape, rng):
    images = (rng.random(shape) > 0.7).astype(np.uint8) * 255
    vae = VAE(**QUICK).fit(images)
    assert vae.architecture_ == "conv" and vae.pixel_likelihood_ == "bernoulli"
    out = vae.sample(3)
    assert out.shape == (3, *shape[1:]) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}
    ll = vae.score_samples(images)
    # Bernoulli pixels: a probability, so at most 0 nats, and bits/dim positive
    assert np.all(ll <= 0) and bits_per_dim(ll.mean(), np.prod(shape[1:])) > 0


def test_gray_images_use_discretised_logistic(rng):
    images = rng.integers(0, 256, (30, 8, 8)).astype(np.uint8)
    vae = VAE(**QUICK).fit(images)
    assert vae.pixel_likelihood_ == "logistic"
    assert np.all(vae.score_samples(images) <= 0)
    mlp = VAE(**{**QUICK, "architecture": "mlp"}).fit(images.astype(np.float64) / 255.0)
    assert mlp.sample(2).dtype == np.float64


def test_latent_space_round_trip_and_pipeline(rng, mixed_frame):
    vae = VAE(**QUICK).fit(mixed_frame)
    latents = vae.transform(mixed_frame)
    assert latents.shape == (len(mixed_frame), 2) and latents.dtype == np.float64
    decoded = vae.inverse_transform(latents[:5])
    assert list(decoded.columns) == list(mixed_frame.columns)
    assert list(vae.get_feature_names_out()) == ["vae0", "vae1"]
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(VAE(**{**QUICK, "epochs": 20}), LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.6


def test_bad_parameters_are_named(mixed_frame):
    with pytest.raises(InvalidParameterError, match="'architecture' parameter of VAE is 'conv'"):
        VAE(**{**QUICK, "architecture": "conv"}).fit(mixed_frame)
    with pytest.raises(
        InvalidParameterError, match="The 'latent_dim' parameter of VAE must be an int"
    ):
        VAE(**{**QUICK, "latent_dim": 0}).fit(mixed_frame)
    with pytest.raises(InvalidParameterError, match="'hidden_dims' parameter of VAE"):
        VAE(**{**QUICK, "hidden_dims": ()}).fit(mixed_frame)
    vae = VAE(**QUICK).fit(mixed_frame)
    with pytest.raises(InvalidParameterError, match=r"shape \(n_samples, 2\)"):
        vae.inverse_transform(np.zeros((3, 5)))


def test_fits_better_than_independent_columns(rng):
    """Two strongly dependent columns: a trained VAE beats the product of marginals."""
    n = 1500
    a = rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": a + 0.05 * rng.normal(size=n)})
    vae = VAE(
        **{**QUICK, "epochs": 60, "hidden_dims": (64, 64), "latent_dim": 4, "batch_size": 128}
    ).fit(df)
    independent = (
        norm(0, 1).logpdf(df["a"]).mean() + norm(0, np.sqrt(1 + 0.05**2)).logpdf(df["b"]).mean()
    )
    assert vae.score(df) > independent + 0.5


@requires_cuda
@pytest.mark.gpu
def test_trains_on_cuda_and_loads_on_cpu(mixed_frame, tmp_path):
    vae = VAE(**{**QUICK, "device": "cuda"}).fit(mixed_frame)
    assert next(vae.module_.parameters()).is_cuda
    assert vae.sample(5).shape == (5, mixed_frame.shape[1])
    vae.save(tmp_path / "gpu.hg")
    on_cpu = load(tmp_path / "gpu.hg", device="cpu")
    np.testing.assert_allclose(
        on_cpu.score_samples(mixed_frame), vae.score_samples(mixed_frame), rtol=1e-4
    )

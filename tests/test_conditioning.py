"""The neural estimators learn to condition (hybridgen._conditioning): condition
columns given to the decoder, class labels for images, and the bounded rejection
fallback for other columns."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import pytest
import torch

from hybridgen import VAE, VAEGAN
from hybridgen._conditioning import MAX_REJECTION_DRAWS
from hybridgen.exceptions import DataValidationError, InvalidParameterError

NEURAL = [VAE, VAEGAN]


def quick(cls, **extra):
    return cls(**{**cls._quick_params, "random_state": 0, "device": "cpu", **extra})


def two_groups(n=1200, rare=0.05, seed=0):
    """``x`` depends on the group: ~N(0, 1) in "common", ~N(8, 1) in the rare group."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < rare, "rare", "common")
    x = np.where(group == "rare", 8.0, 0.0) + rng.normal(size=n)
    colour = np.where(rng.random(n) < 0.5, "red", "blue")
    return pd.DataFrame({"group": pd.Categorical(group), "x": x, "colour": colour})


@pytest.mark.parametrize("cls", NEURAL)
def test_the_decoder_learns_the_conditional_of_a_rare_group(cls):
    df = two_groups()
    est = quick(cls, epochs=40, hidden_dims=(32,), latent_dim=2, batch_size=100)
    est.set_params(condition_columns=["group"]).fit(df)
    rare = est.sample(2000, conditions={"group": "rare"}, random_state=0)
    common = est.sample(2000, conditions={"group": "common"}, random_state=0)
    assert (rare["group"] == "rare").all() and (common["group"] == "common").all()
    assert abs(rare["x"].mean() - 8.0) < 1.0 and abs(common["x"].mean()) < 1.0
    # unconditional draws take the groups in their fitted proportion (the prior)
    share = (est.sample(4000, random_state=1)["group"] == "rare").mean()
    assert abs(share - (df["group"] == "rare").mean()) < 0.02


def test_probabilities_of_a_conditioned_categorical_table_sum_to_one():
    """log p(x) = log p_prior(x_c) + log p(x_rest | x_c) is a distribution: over every
    cell of a categorical table the probabilities add up to one (to the precision of
    the importance-sampling estimate)."""
    rng = np.random.default_rng(0)
    n = 600
    a = rng.choice(["a0", "a1", "a2"], n, p=[0.6, 0.3, 0.1])
    b = np.where(rng.random(n) < 0.8, np.char.replace(a, "a", "b"), "b3")
    df = pd.DataFrame({"a": a, "b": b})
    est = quick(VAE, epochs=30, hidden_dims=(16,), latent_dim=2, n_importance=512)
    est.set_params(condition_columns=["a"]).fit(df)
    cells = pd.DataFrame(
        list(itertools.product(["a0", "a1", "a2"], ["b0", "b1", "b2", "b3"])), columns=["a", "b"]
    )
    assert np.exp(est.score_samples(cells)).sum() == pytest.approx(1.0, abs=0.02)
    # and the condition column's part is the prior's, exactly
    prior = np.exp(est.condition_prior_.score_samples(cells[["a"]].iloc[::4]))
    np.testing.assert_allclose(prior, [0.6, 0.3, 0.1], atol=0.05)


def test_probabilities_of_labelled_binary_images_sum_to_one():
    """Labelled images: log p(x) sums the class out; over every 2x2 binary image the
    probabilities add up to one."""
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    pixels = (rng.random((n, 2, 2)) < np.where(y == 1, 0.8, 0.2)[:, None, None]).astype(np.uint8)
    images = pixels * 255
    est = quick(VAE, epochs=30, architecture="mlp", hidden_dims=(16,), latent_dim=2)
    est.set_params(n_importance=512).fit(images, y)
    assert est.pixel_likelihood_ == "bernoulli"
    every = np.array(list(itertools.product([0, 255], repeat=4)), dtype=np.uint8).reshape(-1, 2, 2)
    assert np.exp(est.score_samples(every)).sum() == pytest.approx(1.0, abs=0.02)


def test_numeric_condition_columns_are_met_exactly_and_learned():
    rng = np.random.default_rng(1)
    n = 1500
    age = rng.uniform(20, 70, n).round()
    spend = 10 * age + rng.normal(0, 20, n)
    df = pd.DataFrame({"age": age.astype("int64"), "spend": spend})
    est = quick(VAE, epochs=40, hidden_dims=(32,), latent_dim=2, condition_columns=["age"]).fit(df)
    out = est.sample(1000, conditions={"age": (30, 40)}, random_state=0)
    assert out["age"].between(30, 40).all() and out["age"].dtype == np.int64
    assert abs(out["spend"].mean() - 10 * out["age"].mean()) < 40
    exact = est.sample(50, conditions={"age": 61}, random_state=0)
    assert (exact["age"] == 61).all()


@pytest.mark.parametrize("cls", NEURAL)
def test_rejection_fallback_is_bounded(cls):
    df = two_groups(n=400)
    est = quick(cls, condition_columns=["colour"]).fit(df)
    start = time.perf_counter()
    with pytest.raises(DataValidationError, match=f"condition_columns.*1 in {MAX_REJECTION_DRAWS}"):
        est.sample(5000, conditions={"x": (1e4, None)})
    with pytest.raises(DataValidationError, match="continuous column 'x'.*probability zero"):
        est.sample(10, conditions={"x": 1.5})
    assert time.perf_counter() - start < 5.0
    out = est.sample(40, conditions={"colour": "red", "group": "common"}, random_state=0)
    assert (out["colour"] == "red").all() and (out["group"] == "common").all()


def test_vaegan_judges_only_the_generated_columns():
    df = two_groups(n=200)
    est = quick(VAEGAN, condition_columns=["group"]).fit(df)
    judged = est.module_.judged.cpu().numpy()
    spans = [s for s in est.transformer_.layout_ if s.column == "group"]
    assert all((judged[s.start : s.stop] == 0).all() for s in spans)
    assert judged.sum() == est.transformer_.n_encoded_ - sum(s.width for s in spans)
    assert est.condition_probs_.size == 0  # CTGAN's own vector is replaced by the columns


def test_training_batches_over_sample_rare_condition_categories():
    df = two_groups(n=1000, rare=0.02)
    est = quick(VAE, condition_columns=["group"]).fit(df)
    C = torch.as_tensor(est._condition_vectors(df[["group"]]), dtype=torch.float32)
    data = (torch.arange(len(df)), C)
    epoch = est._batch_source(data, 500)
    generator = torch.Generator().manual_seed(0)
    rows = torch.cat([batch[0] for _ in range(20) for batch in epoch(generator)])
    rare_share = float((df["group"].to_numpy()[rows.numpy()] == "rare").mean())
    counts = df["group"].value_counts()
    expected = np.log1p(counts["rare"]) / (np.log1p(counts["rare"]) + np.log1p(counts["common"]))
    assert rare_share == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize(
    ("params", "X", "message"),
    [
        ({"condition_columns": ["nope"]}, "table", "names \\['nope'\\], not in the data"),
        ({"condition_columns": ["x", "x"]}, "table", "is empty or repeats"),
        ({"condition_columns": ["group", "x", "colour"]}, "table", "names every column"),
        ({"condition_columns": ["x"]}, "images", "applies to tables"),
        ({"condition_columns": "x"}, "table", "'condition_columns' parameter"),
    ],
)
def test_bad_condition_columns_are_named(params, X, message):
    data = two_groups(n=60) if X == "table" else np.zeros((20, 4, 4), dtype=np.uint8)
    with pytest.raises(InvalidParameterError, match=message):
        quick(VAE, **params).fit(data)


def test_inverse_transform_needs_an_unconditional_model():
    est = quick(VAE, condition_columns=["group"]).fit(two_groups(n=60))
    with pytest.raises(InvalidParameterError, match="sample\\(conditions=...\\)"):
        est.inverse_transform(np.zeros((2, est.latent_dim)))


def test_arrays_condition_on_column_positions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    X[:, 1] = 2 * X[:, 0] + 0.1 * rng.normal(size=300)
    est = quick(VAE, condition_columns=[0], epochs=150, hidden_dims=(32,), latent_dim=2).fit(X)
    out = est.sample(500, conditions={0: (1.0, 2.0)}, random_state=0)
    assert out.shape == (500, 3) and ((out[:, 0] >= 1) & (out[:, 0] <= 2)).all()
    assert 2.0 < out[:, 1].mean() < 4.0  # x1 = 2 x0: about 3
    assert np.isfinite(est.score_samples(X)).all()

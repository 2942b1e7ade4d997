"""augment(): generated rows come with the classes they were conditioned on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridgen import VAE, GaussianMixture, augment
from hybridgen.datasets import make_mixed_table
from hybridgen.exceptions import DataValidationError, InvalidParameterError


def test_balance_on_an_array_generates_the_minority_class_where_it_lives():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(5, 1, (30, 2))])
    y = np.array([0] * 300 + [1] * 30)
    X_aug, y_aug = augment(GaussianMixture(n_components=2), X, y, random_state=0)
    assert np.bincount(y_aug).tolist() == [300, 300]
    np.testing.assert_array_equal(X_aug[:330], X)
    new = X_aug[330:]
    assert y_aug.dtype == y.dtype and (y_aug[330:] == 1).all()
    np.testing.assert_allclose(new.mean(0), [5, 5], atol=4 / np.sqrt(len(new)) + 0.2)


def test_ratio_on_a_table_keeps_class_shares_dtypes_and_the_caller_data():
    table = make_mixed_table(500, random_state=0)
    X, y = table.drop(columns="plan"), table["plan"].astype(str).to_numpy()
    before = X.copy()
    X_aug, y_aug = augment(GaussianMixture(n_components=3), X, y, strategy=0.5, random_state=0)
    pd.testing.assert_frame_equal(X, before)
    assert len(X_aug) == len(y_aug) == 750
    assert (X_aug.dtypes == X.dtypes).all()
    generated = pd.Series(y_aug[500:]).value_counts()
    expected = pd.Series(y).value_counts() / len(y) * 250
    assert (generated.sort_index() - expected.sort_index()).abs().max() <= 1
    # the model's classes differ: premium customers are the older segment
    new = X_aug.iloc[500:]
    assert (
        new["age"][y_aug[500:] == "premium"].mean() > new["age"][y_aug[500:] == "basic"].mean() + 10
    )


def test_already_balanced_classes_come_back_unchanged():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    X_aug, y_aug = augment(GaussianMixture(n_components=1), X, y)
    np.testing.assert_array_equal(X_aug, X)
    np.testing.assert_array_equal(y_aug, y)


def test_same_seed_same_rows():
    table = make_mixed_table(300, random_state=1)
    X, y = table.drop(columns="member"), table["member"].to_numpy()
    first = augment(GaussianMixture(n_components=2), X, y, random_state=3)
    second = augment(GaussianMixture(n_components=2), X, y, random_state=3)
    pd.testing.assert_frame_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"strategy": "oversample"}, InvalidParameterError, "'strategy' parameter of augment"),
        ({"strategy": 0.0}, InvalidParameterError, "a float in the range \\(0, inf\\)"),
        ({"y": np.zeros(3)}, DataValidationError, "one label per row of X \\(40\\)"),
        ({"X": np.zeros((40, 4, 4, 2, 2))}, DataValidationError, "or images of shape"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    args = {"X": np.random.default_rng(0).normal(size=(40, 2)), "y": np.arange(40) % 2}
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(error, match=message):
        augment(GaussianMixture(n_components=1), X, y, **args)


def test_a_neural_model_is_given_the_label_as_a_condition_column():
    table = make_mixed_table(300, random_state=0)
    X, y = table.drop(columns="plan"), table["plan"].astype(str).to_numpy()
    vae = VAE(epochs=1, hidden_dims=(8,), latent_dim=2, device="cpu", condition_columns=["age"])
    X_aug, y_aug = augment(vae, X, y, random_state=0)
    counts = pd.Series(y_aug).value_counts()
    assert (counts == counts.max()).all() and len(X_aug) == len(y_aug)
    assert vae.condition_columns == ["age"]  # the caller's estimator is left alone
    assert X_aug.dtypes.equals(X.dtypes)


def test_images_are_augmented_per_class():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, (40, 6, 6)).astype(np.uint8)
    images[30:, 3:, 3:] = 255
    labels = np.array([0] * 30 + [1] * 10)
    X_aug, y_aug = augment(
        GaussianMixture(n_components=2, covariance_type="diag"), images, labels, random_state=0
    )
    assert X_aug.shape == (60, 6, 6) and X_aug.dtype == np.uint8
    assert np.bincount(y_aug).tolist() == [30, 30]
    np.testing.assert_array_equal(X_aug[:40], images)
    assert X_aug[40:, 4:, 4:].mean() > 200 > X_aug[40:, :2, :2].mean()

"""GaussianMixture against scikit-learn and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from hybridgen import GaussianMixture
from hybridgen.exceptions import ConvergenceWarning, InvalidParameterError, UnseenCategoryWarning

from .conftest import adult_path, requires_cuda

COV_TYPES = ["full", "tied", "diag", "spherical"]


def _blobs(rng, n=600, d=3, k=3):
    centers = rng.normal(0, 5, (k, d))
    labels = rng.integers(0, k, n)
    A = rng.normal(size=(k, d, d)) * 0.5 + np.eye(d)
    return centers[labels] + np.einsum("nd,nde->ne", rng.normal(size=(n, d)), A[labels]) + 100.0


def _initial_precisions(cov_type, k, d, rng):
    if cov_type == "full":
        B = rng.normal(size=(k, d, d))
        return np.einsum("kij,klj->kil", B, B) + d * np.eye(d)
    if cov_type == "tied":
        B = rng.normal(size=(d, d))
        return B @ B.T + d * np.eye(d)
    if cov_type == "diag":
        return rng.uniform(0.2, 2.0, (k, d))
    return rng.uniform(0.2, 2.0, k)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_same_likelihood_as_sklearn_from_same_start(cov_type, rng):
    X = _blobs(rng)
    k, d = 3, X.shape[1]
    init = {
        "weights_init": np.array([0.2, 0.3, 0.5]),
        "means_init": X[rng.choice(len(X), k, replace=False)],
        "precisions_init": _initial_precisions(cov_type, k, d, rng),
    }
    common = {"n_components": k, "covariance_type": cov_type, "max_iter": 40, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        ours = GaussianMixture(**common, **init, device="cpu").fit(X)
        ref = SkGaussianMixture(**common, **init).fit(X)
    assert ours.n_iter_ == ref.n_iter_ == 40
    np.testing.assert_allclose(ours.score(X), ref.score(X), rtol=1e-6)
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-6)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.precisions_, ref.precisions_, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.bic(X), ref.bic(X), rtol=1e-6)
    np.testing.assert_allclose(ours.aic(X), ref.aic(X), rtol=1e-6)


def test_converges_and_stops_like_sklearn(rng):
    X = _blobs(rng)
    init = {
        "means_init": X[:3],
        "weights_init": np.ones(3) / 3,
        "precisions_init": np.stack([np.eye(3)] * 3),
    }
    ours = GaussianMixture(3, **init, device="cpu").fit(X)
    ref = SkGaussianMixture(3, **init).fit(X)
    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.score(X), ref.score(X), rtol=1e-6)


def test_score_samples_is_the_mixture_density(rng):
    X = _blobs(rng, n=200, d=2, k=2)
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(X)
    density = sum(
        w * multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_, strict=True)
    )
    np.testing.assert_allclose(gm.score_samples(X), np.log(density), rtol=1e-9)


def test_not_converged_warns(rng):
    X = _blobs(rng)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=2, tol=0.0, random_state=0, device="cpu").fit(X)
    assert issubclass(ConvergenceWarning, SkConvergenceWarning)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_inits_reach_a_good_fit(init, rng):
    X = _blobs(rng)
    ref = SkGaussianMixture(3, random_state=0, n_init=3).fit(X).score(X)
    ours = GaussianMixture(
        3, init_params=init, n_init=3, random_state=0, device="cpu", max_iter=300
    )
    assert ours.fit(X).score(X) > ref - 0.05


def test_n_init_keeps_best_and_warm_start_continues(rng):
    X = _blobs(rng)
    single = GaussianMixture(
        3, init_params="random", random_state=1, device="cpu", max_iter=5, tol=0
    )
    many = GaussianMixture(
        3, init_params="random", n_init=4, random_state=1, device="cpu", max_iter=5, tol=0
    )
    with pytest.warns(ConvergenceWarning):
        single.fit(X)
    with pytest.warns(ConvergenceWarning):
        many.fit(X)
    assert many.lower_bound_ >= single.lower_bound_ - 1e-12
    warm = GaussianMixture(3, warm_start=True, max_iter=3, tol=0, random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning):
        warm.fit(X)
    first = warm.lower_bound_
    with pytest.warns(ConvergenceWarning):
        warm.fit(X)
    assert warm.lower_bounds_[0] >= first - 1e-9


def test_bad_init_shape_names_the_parameter(rng):
    X = _blobs(rng)
    with pytest.raises(InvalidParameterError, match="means_init.*shape \\(3, 3\\).*\\(2, 3\\)"):
        GaussianMixture(3, means_init=X[:2], device="cpu").fit(X)
    with pytest.raises(InvalidParameterError, match="n_components"):
        GaussianMixture(0).fit(X)
    with pytest.raises(InvalidParameterError, match="Expected n_samples >= n_components"):
        GaussianMixture(5, device="cpu").fit(X[:3])


def test_latent_class_model_on_mixed_table(mixed_frame):
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(mixed_frame)
    # discrete blocks are distributions per component
    assert np.all(gm.discrete_probs_ > 0)
    # log-likelihood of a row = logsumexp over components of all terms (checked by hand)
    row = mixed_frame.iloc[[0]]
    ll = gm.score_samples(row)[0]
    assert np.isfinite(ll)
    # sampling gives valid categories and keeps NaN proportions close
    sample = gm.sample(3000, random_state=1)
    assert set(sample["city"].dropna()) <= {"north", "south", "east"}
    assert sample["income"].isna().mean() == pytest.approx(
        mixed_frame["income"].isna().mean(), abs=0.03
    )
    assert sample["city"].isna().mean() == pytest.approx(
        mixed_frame["city"].isna().mean(), abs=0.02
    )
    assert (sample.dtypes == mixed_frame.dtypes).all()


def test_discrete_probabilities_are_exact(rng):
    """One component on categorical-only data: the probabilities are the frequencies."""
    df = pd.DataFrame({"c": rng.choice(["a", "b", "c"], 1000, p=[0.5, 0.3, 0.2])})
    gm = GaussianMixture(1, device="cpu").fit(df)
    freq = df["c"].value_counts(normalize=True)
    expected = np.log(freq[df["c"]].to_numpy())
    np.testing.assert_allclose(gm.score_samples(df), expected, rtol=1e-9)


def test_missing_values_are_marginalised(rng):
    """One full-covariance component: a row with a missing cell scores as the marginal."""
    X = rng.multivariate_normal([0, 1, 2], [[2, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1.5]], 2000)
    X[::10, 1] = np.nan
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(1, device="cpu", tol=1e-10, max_iter=500, standardize=False).fit(df)
    miss = np.isnan(X[:, 1])
    p_miss = miss.mean()
    mean, cov = gm.means_[0], gm.covariances_[0]
    expected = np.where(
        miss,
        multivariate_normal(mean[[0, 2]], cov[np.ix_([0, 2], [0, 2])]).logpdf(
            np.nan_to_num(X[:, [0, 2]])
        )
        + np.log(p_miss),
        multivariate_normal(mean, cov).logpdf(np.nan_to_num(X)) + np.log(1 - p_miss),
    )
    np.testing.assert_allclose(gm.score_samples(df), expected, rtol=1e-8)
    # EM with missing data recovers the moments that complete data would give
    np.testing.assert_allclose(mean, [0, 1, 2], atol=0.1)
    np.testing.assert_allclose(cov[1, 1], 1.0, atol=0.15)


def test_unseen_category_scores_minus_inf(mixed_frame):
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(mixed_frame)
    row = mixed_frame.iloc[:2].copy()
    row["city"] = pd.Series(["west", "north"], dtype="str", index=row.index)
    with pytest.warns(UnseenCategoryWarning, match="city"):
        ll = gm.score_samples(row)
    assert ll[0] == -np.inf and np.isfinite(ll[1])


def test_float32_close_to_float64(rng):
    X = _blobs(rng)
    a = GaussianMixture(3, random_state=0, device="cpu").fit(X).score(X)
    b = GaussianMixture(3, random_state=0, device="cpu", dtype="float32").fit(X).score(X)
    assert abs(a - b) < 1e-3 * abs(a)


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_cuda_matches_cpu(cov_type, rng):
    X = _blobs(rng)
    cpu = GaussianMixture(3, covariance_type=cov_type, random_state=0, device="cpu").fit(X)
    init = {"means_init": cpu.means_, "weights_init": cpu.weights_}
    a = GaussianMixture(3, covariance_type=cov_type, device="cpu", **init).fit(X)
    b = GaussianMixture(3, covariance_type=cov_type, device="cuda", **init).fit(X)
    np.testing.assert_allclose(a.score(X), b.score(X), rtol=1e-9)
    assert b.sample(10).shape == (10, 3)
    assert torch.cuda.is_available()


def test_dataframes_are_standardised_and_scored_in_original_units(rng):
    X = rng.normal(size=(400, 2)) @ np.array([[1.0, 0.5], [0.0, 1.0]]) * [2e5, 1e-3] + [5e5, 0.0]
    df = pd.DataFrame(X, columns=["wide", "narrow"])
    on_frame = GaussianMixture(2, random_state=0, device="cpu").fit(df)
    Xs = (X - X.mean(0)) / X.std(0)
    on_scaled = GaussianMixture(2, random_state=0, device="cpu").fit(Xs)
    jacobian = -np.log(X.std(0)).sum()
    np.testing.assert_allclose(on_frame.score(df), on_scaled.score(Xs) + jacobian, rtol=1e-9)
    raw = GaussianMixture(2, random_state=0, device="cpu", standardize=False)
    assert raw.fit(X).score(X) == pytest.approx(raw.fit(df).score(df))


@pytest.mark.skipif(not adult_path().exists(), reason="../shared/data not present")
def test_adult_subsample_fits(rng):
    df = pd.read_csv(adult_path()).sample(3000, random_state=0)
    gm = GaussianMixture(20, random_state=0, device="cpu", max_iter=30, tol=1e-2)
    with warnings.catch_warnings():  # 30 iterations are enough to show it fits
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(df)
    assert np.isfinite(gm.score(df))

"""GaussianMixture against scikit-learn and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from hybridgen import GaussianMixture
from hybridgen.exceptions import (
    ConvergenceWarning,
    DataValidationError,
    InvalidParameterError,
    UnseenCategoryWarning,
)

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


# -- images fitted with class labels -------------------------------------------------------
_CORNERS = [(0, 0), (3, 3), (0, 3), (3, 0)]  # where each template's bright 3x3 square sits


def _template_images(rng, templates):
    """6x6 uint8 images: a bright square at ``_CORNERS[t]`` on a dark ground, plus noise."""
    images = np.full((len(templates), 6, 6), 40.0)
    for i, t in enumerate(templates):
        r, c = _CORNERS[t]
        images[i, r : r + 3, c : c + 3] = 210.0
    return np.clip(images + rng.normal(0, 12, images.shape), 0, 255).round().astype(np.uint8)


def _nearest(images, centres):
    """Index of the nearest centre image of each image (squared pixel distance)."""
    diff = images[:, None].astype(float) - centres[None].astype(float)
    return (diff**2).sum((2, 3)).argmin(1)


@pytest.fixture
def labelled_images(rng):
    """300 images of three classes, one template each, with string labels."""
    templates = rng.integers(0, 3, 300)
    return _template_images(rng, templates), np.array(["ant", "bee", "cat"])[templates]


def _labelled_fit(images, y, k=4, **params):
    gm = GaussianMixture(k, covariance_type="diag", random_state=0, device="cpu", **params)
    return gm.fit(images, y)


def test_labelled_images_sample_the_class_asked(labelled_images):
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    assert gm.classes_.tolist() == ["ant", "bee", "cat"]
    class_means = np.stack([images[y == c].mean(0) for c in gm.classes_])
    for i, c in enumerate(gm.classes_):
        drawn = gm.sample(200, conditions=c, random_state=0)
        assert drawn.shape == (200, 6, 6) and drawn.dtype == np.uint8
        assert (_nearest(drawn, class_means) == i).mean() > 0.95
        gap = np.abs(drawn.mean(0) - class_means).mean((1, 2))
        assert gap[i] < 5.0 and np.delete(gap, i).min() > 50.0
    # one label per image: row i has the class asked
    asked = np.array(["cat", "ant", "bee"] * 20)
    drawn = gm.sample(60, conditions=list(asked), random_state=1)
    assert (gm.classes_[_nearest(drawn, class_means)] == asked).all()


def test_component_given_class_is_bayes_rule(rng):
    """Class "a" is two well-separated templates (70/30), "b" a third: p(k | a) computed
    by hand from weights_ and discrete_probs_ matches the components drawn for "a"."""
    templates = rng.choice(3, 600, p=[0.42, 0.18, 0.4])
    images = _template_images(rng, templates)
    y = np.where(templates < 2, "a", "b")
    gm = _labelled_fit(images, y, k=3)
    a = gm.classes_.tolist().index("a")
    joint = gm.weights_ * gm.discrete_probs_[:, a]
    posterior = joint / joint.sum()
    assert np.sort(posterior)[-2] > 0.2  # two components share class "a": not trivial
    drawn = gm.sample(4000, conditions="a", random_state=0)
    frequency = np.bincount(gm.predict(drawn), minlength=3) / 4000
    np.testing.assert_allclose(frequency, posterior, atol=0.03)
    # neither the weights alone nor P_k(a) alone give these frequencies
    assert np.abs(frequency - gm.weights_).max() > 0.1
    uniform = gm.discrete_probs_[:, a] / gm.discrete_probs_[:, a].sum()
    assert np.abs(frequency - uniform).max() > 0.1


def test_labelled_score_is_the_pixel_mixture_density(labelled_images):
    """log p(x) with the label summed out: the diagonal-Gaussian mixture over pixels on
    [0, 1], per 0..255 step (-D log 255), computed by hand."""
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    Z = images.reshape(len(images), -1) / 255.0
    per_component = np.stack(
        [
            np.log(w) + norm.logpdf(Z, m, np.sqrt(c)).sum(1)
            for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_, strict=True)
        ],
        axis=1,
    )
    expected = logsumexp(per_component, axis=1) - Z.shape[1] * np.log(255.0)
    np.testing.assert_allclose(gm.score_samples(images), expected, rtol=1e-9)
    resp = np.exp(per_component - logsumexp(per_component, axis=1, keepdims=True))
    np.testing.assert_allclose(gm.predict_proba(images), resp, atol=1e-9)
    np.testing.assert_array_equal(gm.predict(images), resp.argmax(1))
    # the same pixel parameters without labels: same score, K * (n_classes - 1) fewer
    # parameters in the criteria
    plain = GaussianMixture(
        4,
        covariance_type="diag",
        weights_init=gm.weights_ / gm.weights_.sum(),
        means_init=gm.means_,
        precisions_init=gm.precisions_,
        max_iter=0,
        device="cpu",
    ).fit(images)
    np.testing.assert_allclose(plain.score_samples(images), expected, rtol=1e-9)
    np.testing.assert_allclose(plain.covariances_, gm.covariances_, rtol=1e-9)
    extra = 4 * (3 - 1)
    n = len(images)
    assert gm.bic(images) - plain.bic(images) == pytest.approx(extra * np.log(n), rel=1e-6)
    assert gm.aic(images) - plain.aic(images) == pytest.approx(2 * extra, rel=1e-6)


def test_label_conditions_are_checked(labelled_images):
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    with pytest.raises(DataValidationError, match=r"\['dog'\].*expected one of \['ant', 'bee'"):
        gm.sample(3, conditions="dog")
    with pytest.raises(DataValidationError, match="class label"):
        gm.sample(3, conditions={"label": "ant"})
    with pytest.raises(DataValidationError, match="n_samples is 3"):
        gm.sample(3, conditions=["ant", "bee"])


def test_y_is_checked_for_images_and_ignored_for_tables(labelled_images, rng):
    images, y = labelled_images
    with pytest.raises(DataValidationError, match=r"expected shape \(300,\), got \(299,\)"):
        _labelled_fit(images, y[:-1])
    X = _blobs(rng, n=200, d=2, k=2)
    labels = rng.integers(0, 2, len(X))
    for data in (X, pd.DataFrame(X, columns=["u", "v"])):
        with_y = GaussianMixture(2, random_state=0, device="cpu").fit(data, labels)
        without = GaussianMixture(2, random_state=0, device="cpu").fit(data)
        assert not hasattr(with_y, "classes_")
        assert with_y.discrete_probs_.shape == (2, 0)
        np.testing.assert_array_equal(with_y.score_samples(data), without.score_samples(data))


def test_refit_without_labels_drops_them_and_warm_start_keeps_them(labelled_images):
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    assert gm.discrete_probs_.shape == (4, 3)
    np.testing.assert_allclose(gm.discrete_probs_.sum(1), 1.0)
    gm.fit(images)
    assert not hasattr(gm, "classes_") and gm.discrete_probs_.shape == (4, 0)
    with pytest.raises(DataValidationError, match="fitted on images"):
        gm.sample(3, conditions="ant")
    warm = _labelled_fit(images, y, warm_start=True)
    first = warm.lower_bound_
    warm.fit(images, y)
    assert warm.lower_bounds_[0] >= first - 1e-3  # continues (new dequantisation noise)
    with pytest.raises(InvalidParameterError, match=r"classes \['ant', 'bee', 'cat'\].*no labels"):
        warm.fit(images)
    with pytest.raises(InvalidParameterError, match="warm_start=False"):
        warm.fit(images, np.where(y == "cat", "ant", y))
    assert warm.classes_.tolist() == ["ant", "bee", "cat"]


def test_labelled_model_save_load_round_trip(labelled_images, tmp_path):
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    gm.save(tmp_path / "gm.safetensors")
    loaded = GaussianMixture.load(tmp_path / "gm.safetensors")
    assert loaded.classes_.tolist() == gm.classes_.tolist()
    np.testing.assert_array_equal(loaded.score_samples(images), gm.score_samples(images))
    np.testing.assert_array_equal(
        loaded.sample(20, conditions="bee", random_state=3),
        gm.sample(20, conditions="bee", random_state=3),
    )
    numeric = _labelled_fit(images, np.searchsorted(gm.classes_, y) + 7)
    numeric.save(tmp_path / "numeric.safetensors")
    again = GaussianMixture.load(tmp_path / "numeric.safetensors")
    assert again.classes_.tolist() == [7, 8, 9]
    assert again.sample(5, conditions=8, random_state=0).shape == (5, 6, 6)


def test_label_posterior_and_a_class_no_component_produces(labelled_images):
    from hybridgen._em import label_log_posterior

    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    log_post = label_log_posterior(weights, probs).numpy()
    joint = weights.numpy()[:, None] * probs.numpy()[:, :2]
    np.testing.assert_allclose(np.exp(log_post[:2]), (joint / joint.sum(0)).T)
    assert (log_post[2] == -np.inf).all()
    images, y = labelled_images
    gm = _labelled_fit(images, y)
    gm.discrete_probs_[:, 1] = 0.0  # no component produces "bee"
    with pytest.raises(DataValidationError, match=r"\['bee'\].*probability zero"):
        gm.sample(4, conditions=["ant", "bee", "bee", "cat"])
    assert gm.sample(2, conditions="ant").shape == (2, 6, 6)

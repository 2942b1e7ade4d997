"""Conditional sampling: GaussianMixture against closed forms, the shared checks of
``sample(conditions=...)``, and the neural estimators' refusal (for now)."""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, truncnorm

from hybridgen import ConvergenceWarning, GaussianMixture
from hybridgen._conditional import encode_conditions
from hybridgen._em_conditional import log_normal_interval, truncated_standard_normal
from hybridgen.datasets import make_mixed_table
from hybridgen.exceptions import DataValidationError

N = 200_000  # draws for the statistical checks; tolerances are 5 standard errors
Z_TOL = 5.0

WEIGHTS = np.array([0.3, 0.7])
MEANS = np.array([[0.0, 1.0, 2.0], [1.5, -1.0, 0.0]])
COVARIANCES = np.array(
    [
        [[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 1.5]],
        [[2.0, -0.4, 0.0], [-0.4, 1.0, 0.2], [0.0, 0.2, 0.5]],
    ]
)


def known_mixture(weights=WEIGHTS, means=MEANS, covariances=COVARIANCES) -> GaussianMixture:
    """A mixture with exactly these parameters (EM does not run: max_iter=0)."""
    X = np.random.default_rng(0).normal(size=(50, means.shape[1]))
    return GaussianMixture(
        len(weights),
        weights_init=weights,
        means_init=means,
        precisions_init=np.linalg.inv(covariances),
        max_iter=0,
        device="cpu",
    ).fit(X)


def closed_form_conditional(
    observed: dict[int, float], weights=WEIGHTS, all_means=MEANS, covariances=COVARIANCES
):
    """Posterior weights, and mean and covariance of the other cells, by hand (numpy)."""
    o = np.array(sorted(observed))
    f = np.array([d for d in range(all_means.shape[1]) if d not in observed])
    x_o = np.array([observed[d] for d in o])
    log_post, means, covs = [], [], []
    for w, mu, S in zip(weights, all_means, covariances, strict=True):
        S_oo, S_fo = S[np.ix_(o, o)], S[np.ix_(f, o)]
        diff = x_o - mu[o]
        log_density = -0.5 * (
            diff @ np.linalg.solve(S_oo, diff) + np.log(np.linalg.det(2 * np.pi * S_oo))
        )
        log_post.append(np.log(w) + log_density)
        means.append(mu[f] + S_fo @ np.linalg.solve(S_oo, diff))
        covs.append(S[np.ix_(f, f)] - S_fo @ np.linalg.solve(S_oo, S_fo.T))
    post = np.exp(np.array(log_post) - max(log_post))
    post /= post.sum()
    mean = sum(p * m for p, m in zip(post, means, strict=True))
    second = sum(p * (c + np.outer(m, m)) for p, m, c in zip(post, means, covs, strict=True))
    return post, f, mean, second - np.outer(mean, mean)


def assert_mean_matches(samples: np.ndarray, expected: np.ndarray) -> None:
    """Sample means within Z_TOL standard errors of ``expected``."""
    se = samples.std(0) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(0) - expected) < Z_TOL * se), (samples.mean(0), expected)


def assert_cov_matches(samples: np.ndarray, expected: np.ndarray) -> None:
    """Sample covariances within Z_TOL standard errors (of the mean of the products)."""
    centred = samples - samples.mean(0)
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(0) / np.sqrt(len(samples))
    assert np.all(np.abs(products.mean(0) - expected) < Z_TOL * se), (products.mean(0), expected)


def assert_frequencies_match(observed: pd.Series, expected: pd.Series, n: int) -> None:
    """Category frequencies within Z_TOL binomial standard errors."""
    observed = observed.reindex(expected.index, fill_value=0.0)
    se = np.sqrt(expected * (1 - expected) / n) + 1e-12
    assert np.all(np.abs(observed - expected) < Z_TOL * se + 1e-9), (observed, expected)


@pytest.fixture(scope="module")
def mixed():
    df = make_mixed_table(3000, random_state=0)
    return df, GaussianMixture(4, random_state=0, device="cpu").fit(df)


def discrete_slots(gm: GaussianMixture, column) -> np.ndarray:
    """Columns of ``discrete_probs_`` holding ``column``'s categories (its documented
    layout: the categorical spans' slots, in layout order)."""
    offset = 0
    for span in gm.transformer_.layout_:
        if span.kind == "categorical":
            if span.column == column:
                return np.arange(offset, offset + span.width)
            offset += span.width
    raise KeyError(column)


def continuous_dim(gm: GaussianMixture, column) -> int:
    """Column of ``means_`` holding ``column`` (continuous spans, in layout order)."""
    spans = [s.column for s in gm.transformer_.layout_ if s.kind == "continuous"]
    return spans.index(column)


def categories(gm: GaussianMixture, column) -> list:
    return list(next(c for c in gm.transformer_.columns_ if c.name == column).categories)


# ---------------------------------------------------------------------------------------
# GaussianMixture: exact against closed forms
# ---------------------------------------------------------------------------------------
def test_conditional_gaussian_moments_match_closed_form():
    gm = known_mixture()
    observed = {0: 0.8}
    _, free, mean, cov = closed_form_conditional(observed)
    X = gm.sample(N, random_state=0, conditions=observed)
    assert np.all(X[:, 0] == 0.8)
    assert_mean_matches(X[:, free], mean)
    assert_cov_matches(X[:, free], cov)


def test_two_observed_cells_match_closed_form():
    gm = known_mixture()
    observed = {0: -0.5, 2: 1.0}
    _, free, mean, cov = closed_form_conditional(observed)
    X = gm.sample(N, random_state=1, conditions=observed)
    assert np.all(X[:, [0, 2]] == [-0.5, 1.0])
    assert_mean_matches(X[:, free], mean)
    assert_cov_matches(X[:, free], cov)


def full_matrices(gm: GaussianMixture) -> np.ndarray:
    """``covariances_`` of any covariance type as (K, D, D) matrices."""
    K, D = gm.means_.shape
    cov = gm.covariances_
    if gm.covariance_type == "full":
        return cov
    if gm.covariance_type == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if gm.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return cov[:, None, None] * np.eye(D)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_covariance_type_on_a_fitted_mixture(cov_type, dtype, rng):
    """Conditional moments given a cell, and with a range, from the fitted parameters."""
    labels = rng.integers(0, 3, 1500)
    X = rng.normal(size=(1500, 3)) @ [[1, 0.6, 0], [0, 1, 0.4], [0, 0, 1]] + 3.0 * labels[:, None]
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0, device="cpu", dtype=dtype)
    gm.fit(X)
    params = (gm.weights_.astype(float), gm.means_.astype(float), full_matrices(gm).astype(float))
    _, free, mean, cov = closed_form_conditional({1: 2.5}, *params)
    out = gm.sample(N // 2, random_state=0, conditions={1: 2.5})
    assert np.all(out[:, 1] == 2.5)
    assert_mean_matches(out[:, free], mean)
    assert_cov_matches(out[:, free], cov)
    ranged = gm.sample(20_000, random_state=0, conditions={0: (1.0, 2.0), 2: 4.0})
    assert ranged[:, 0].min() >= 1.0 and ranged[:, 0].max() <= 2.0 and np.all(ranged[:, 2] == 4)


def test_categorical_only_table(rng):
    a = rng.choice(["x", "y"], 2000)
    b = np.where(a == "x", rng.choice(["u", "v"], 2000, p=[0.9, 0.1]), "w")
    df = pd.DataFrame({"a": a, "b": b})
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(df)
    posterior = gm.weights_ * gm.discrete_probs_[:, discrete_slots(gm, "a")][:, 0]
    expected = (posterior / posterior.sum()) @ gm.discrete_probs_[:, discrete_slots(gm, "b")]
    out = gm.sample(N // 2, random_state=0, conditions={"a": "x"})
    freq = out["b"].value_counts(normalize=True)
    assert_frequencies_match(freq, pd.Series(expected, index=["u", "v", "w"]), len(out))


def test_posterior_component_frequencies_follow_bayes_rule():
    """Components told apart by a far-apart, independent cell: their frequencies given
    x_0 are w_k N(x_0; mu_k0, S_k00) normalised."""
    means = np.array([[0.0, -20.0], [1.0, 20.0]])
    covariances = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, 1.0]]])
    gm = known_mixture(WEIGHTS, means, covariances)
    x0 = 0.7
    joint = WEIGHTS * norm.pdf(x0, means[:, 0], np.sqrt(covariances[:, 0, 0]))
    posterior = joint / joint.sum()
    X = gm.sample(N, random_state=2, conditions={0: x0})
    second = (X[:, 1] > 0).mean()
    assert abs(second - posterior[1]) < Z_TOL * np.sqrt(posterior[1] * posterior[0] / N)


def test_categorical_condition_shifts_other_columns_as_the_model_says(mixed):
    df, gm = mixed
    plan = gm.discrete_probs_[:, discrete_slots(gm, "plan")]
    slot = list(df["plan"].cat.categories).index("premium")
    posterior = gm.weights_ * plan[:, slot]
    posterior /= posterior.sum()
    out = gm.sample(N, random_state=0, conditions={"plan": "premium"})
    assert (out["plan"] == "premium").all()
    # another categorical column: p(region | plan) = sum_k p(k | plan) P_k(region)
    region = posterior @ gm.discrete_probs_[:, discrete_slots(gm, "region")]
    names = [*categories(gm, "region"), "missing"]
    freq = out["region"].fillna("missing").value_counts(normalize=True)
    assert_frequencies_match(freq, pd.Series(region, index=names), N)
    # a numeric column: E[tenure | plan] in original units
    tenure = continuous_dim(gm, "tenure")
    params = gm.transformer_.numeric_params_["tenure"]
    expected = posterior @ gm.means_[:, tenure] * params["std"] + params["mean"]
    assert_mean_matches(out[["tenure"]].to_numpy(), np.array([expected]))
    # the condition changes the region frequencies, so the test has power
    unconditional = gm.weights_ @ gm.discrete_probs_[:, discrete_slots(gm, "region")]
    assert np.abs(region - unconditional).max() > 0.05


# ---------------------------------------------------------------------------------------
# Ranges
# ---------------------------------------------------------------------------------------
def test_range_on_one_component_is_the_truncated_normal():
    mu, sd = 2.0, 1.5
    gm = known_mixture(np.array([1.0]), np.array([[mu]]), np.array([[[sd**2]]]))
    low, high = 2.5, 6.0
    X = gm.sample(N, random_state=0, conditions={0: (low, high)})[:, 0]
    assert X.min() >= low and X.max() <= high
    a, b = (low - mu) / sd, (high - mu) / sd
    reference = truncnorm(a, b, loc=mu, scale=sd)
    assert abs(X.mean() - reference.mean()) < Z_TOL * reference.std() / np.sqrt(N)
    assert abs(X.var() - reference.var()) < 0.02 * reference.var()


def test_open_range_far_in_the_tail():
    gm = known_mixture(np.array([1.0]), np.array([[0.0]]), np.array([[[1.0]]]))
    X = gm.sample(50_000, random_state=0, conditions={0: (None, -12.0)})[:, 0]
    assert np.isfinite(X).all() and X.max() <= -12.0
    reference = truncnorm(-np.inf, -12.0)
    assert abs(X.mean() - reference.mean()) < Z_TOL * reference.std() / np.sqrt(len(X))


def test_range_weights_components_and_conditions_the_rest():
    """Posterior of each component times its probability of the range; the other cell
    is drawn given the ranged one."""
    means = np.array([[0.0, -20.0], [3.0, 20.0]])
    covariances = np.array([[[1.0, 0.0], [0.0, 1.0]], [[4.0, 0.0], [0.0, 1.0]]])
    gm = known_mixture(WEIGHTS, means, covariances)
    low, high = 1.0, 2.0
    sd = np.sqrt(covariances[:, 0, 0])
    joint = WEIGHTS * (norm.cdf(high, means[:, 0], sd) - norm.cdf(low, means[:, 0], sd))
    posterior = joint / joint.sum()
    X = gm.sample(N, random_state=3, conditions={0: (low, high)})
    assert X[:, 0].min() >= low and X[:, 0].max() <= high
    second = (X[:, 1] > 0).mean()
    assert abs(second - posterior[1]) < Z_TOL * np.sqrt(posterior[1] * posterior[0] / N)


def test_range_with_correlated_cells_matches_the_closed_form():
    """One component: E[x_1 | x_0 in range] = mu_1 + S_10 / S_00 (E[x_0 | range] - mu_0)."""
    mu, S = np.array([1.0, -2.0]), np.array([[2.0, 1.2], [1.2, 1.5]])
    gm = known_mixture(np.array([1.0]), mu[None], S[None])
    low, high = 1.5, 4.0
    sd = np.sqrt(S[0, 0])
    x0 = truncnorm((low - mu[0]) / sd, (high - mu[0]) / sd, loc=mu[0], scale=sd)
    expected = mu[1] + S[1, 0] / S[0, 0] * (x0.mean() - mu[0])
    X = gm.sample(N, random_state=4, conditions={0: (low, high)})
    assert_mean_matches(X[:, [0, 1]], np.array([x0.mean(), expected]))


def test_range_with_a_value_and_a_category_on_the_mixed_table(mixed):
    df, gm = mixed
    out = gm.sample(20_000, random_state=0, conditions={"age": (30, 40), "region": "east"})
    assert out["age"].between(30, 40).all() and (out["region"] == "east").all()
    out = gm.sample(5_000, random_state=0, conditions={"tenure": (None, 2.5), "income": 40000.5})
    assert (out["tenure"] <= 2.5).all() and (out["income"] == 40000.5).all()
    # a point range is a value; a range on an integer column gives integers in it
    assert (gm.sample(50, conditions={"tenure": (3.0, 3.0)})["tenure"] == 3.0).all()
    ages = gm.sample(5_000, random_state=1, conditions={"age": (30.5, 33.2)})["age"]
    assert set(ages) <= {31, 32, 33}
    # an open integer range at the fitted minimum keeps the values the model clips there
    youngest = gm.sample(2_000, random_state=2, conditions={"age": (None, df["age"].min())})
    assert (youngest["age"] == df["age"].min()).all()


def test_truncated_standard_normal_against_scipy():
    a = np.array([-1.0, 0.5, 8.0, -np.inf, -40.0, 30.0, -2.0])
    b = np.array([1.0, 2.0, 9.0, -20.0, -39.0, np.inf, np.inf])
    u = np.array([0.1, 0.5, 0.9, 0.3, 0.7, 0.05, 0.999])
    np.testing.assert_allclose(
        truncated_standard_normal(a, b, u), truncnorm.ppf(u, a, b), rtol=1e-8
    )
    # the reference takes the tail away from the mode: sf(a) - sf(b) for a > 0
    low, high = a[:3], b[:3]
    direct = np.where(low > 0, norm.sf(low) - norm.sf(high), norm.cdf(high) - norm.cdf(low))
    np.testing.assert_allclose(log_normal_interval(low, high), np.log(direct), rtol=1e-10)
    np.testing.assert_allclose(
        log_normal_interval(np.array([30.0]), np.array([np.inf])), norm.logsf(30.0), rtol=1e-10
    )


# ---------------------------------------------------------------------------------------
# Per-row conditions
# ---------------------------------------------------------------------------------------
def test_per_row_dataframe_conditions(mixed):
    df, gm = mixed
    conditions = pd.DataFrame(
        {
            "plan": ["basic", None, "premium", "plus"],
            "age": [25, 61, np.nan, 40],
            "member": [True, None, False, None],
        }
    )
    out = gm.sample(4, random_state=0, conditions=conditions)
    assert list(out["plan"][[0, 2, 3]]) == ["basic", "premium", "plus"]
    assert list(out["age"][[0, 1, 3]]) == [25, 61, 40]
    assert list(out["member"][[0, 2]]) == [True, False]
    assert out.dtypes.equals(df.dtypes)


def test_per_row_conditions_follow_each_row(mixed):
    """Half the rows conditioned on one plan, half on another, in one call: each half has
    the model's p(region | plan)."""
    df, gm = mixed
    plans = np.where(np.arange(N) % 2 == 0, "basic", "premium")
    out = gm.sample(N, random_state=0, conditions=pd.DataFrame({"plan": plans}))
    region_slots = discrete_slots(gm, "region")
    names = [*categories(gm, "region"), "missing"]
    for plan in ("basic", "premium"):
        slot = list(df["plan"].cat.categories).index(plan)
        posterior = gm.weights_ * gm.discrete_probs_[:, discrete_slots(gm, "plan")][:, slot]
        expected = (posterior / posterior.sum()) @ gm.discrete_probs_[:, region_slots]
        rows = out[plans == plan]
        assert (rows["plan"] == plan).all()
        freq = rows["region"].fillna("missing").value_counts(normalize=True)
        assert_frequencies_match(freq, pd.Series(expected, index=names), len(rows))


def test_per_row_numeric_values_on_an_array():
    gm = known_mixture()
    values = np.linspace(-2, 2, 1000)
    conditions = pd.DataFrame({0: values, 2: np.where(values > 0, 1.0, np.nan)})
    X = gm.sample(1000, random_state=0, conditions=conditions)
    np.testing.assert_array_equal(X[:, 0], values)
    np.testing.assert_array_equal(X[values > 0, 2], 1.0)
    assert len(np.unique(X[values <= 0, 2])) == (values <= 0).sum()


def test_distinct_rows_of_conditions(mixed):
    """Rows share a posterior exactly when their conditions are equal (NaN equal NaN)."""
    _, gm = mixed
    frame = pd.DataFrame(
        {"plan": ["basic", None, "basic", "plus", None] * 4, "age": [30, 40, 30, 30, 40] * 4}
    )
    encoded = encode_conditions(gm.transformer_, frame, 20, "GaussianMixture")
    first, inverse = encoded.distinct_rows()
    assert first.tolist() == [0, 1, 3] and inverse.tolist() == [0, 1, 0, 2, 1] * 4
    shared = encode_conditions(gm.transformer_, {"plan": "basic"}, 4, "GaussianMixture")
    assert shared.distinct_rows()[0].tolist() == [0]
    assert shared.distinct_rows()[1].tolist() == [0, 0, 0, 0]


def test_no_condition_is_the_unconditional_draw(mixed):
    df, gm = mixed
    plain = gm.sample(100, random_state=5)
    pd.testing.assert_frame_equal(gm.sample(100, random_state=5, conditions={}), plain)
    empty = pd.DataFrame({"plan": [None] * 100, "age": np.nan})
    pd.testing.assert_frame_equal(gm.sample(100, random_state=5, conditions=empty), plain)


# ---------------------------------------------------------------------------------------
# Errors: each names the column, what was expected and what arrived
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"nope": 1}, "column 'nope', which GaussianMixture was not fitted on; expected one of"),
        ({"region": "mars"}, r"'region'.*\['mars'\], not seen at fit time.*expected one of"),
        ({"age": (40, 30)}, "'age'.*low end is above its high end; expected low <= high"),
        ({"region": ("a", "b")}, "categorical column 'region'.*ranges apply to numeric"),
        ({"age": (1, 2, 3)}, r"'age' the range \(1, 2, 3\); expected a tuple \(low, high\)"),
        ({"age": ("a", 3)}, "expected a tuple"),
        ({"age": 30.5}, "integer column 'age' the value 30.5; expected an integer"),
        ({"tenure": "long"}, "numeric column 'tenure' the value 'long'.*expected a finite number"),
        ({"tenure": np.inf}, "expected a finite number"),
        ({"region": np.nan}, "'region' a missing value.*leave the column out"),
        ({"region": ["north", "south"]}, "'region' a list; expected one value"),
        ({"age": (30.2, 30.8)}, "integer column 'age' to \\[31, 30\\].*no integer"),
        ({"age": (200, None)}, "integer column 'age'.*no integer.*lie in \\["),
        (
            {"age": (30, 40), "tenure": (1, 2)},
            r"ranges on 2 columns \['age', 'tenure'\].*one column at a time",
        ),
        ([("region", "north")], "must be a dict .* or a DataFrame.*got a list"),
    ],
)
def test_bad_conditions_raise_clear_errors(mixed, conditions, message):
    _, gm = mixed
    with pytest.raises(DataValidationError, match=message):
        gm.sample(5, conditions=conditions)


def test_bad_dataframe_conditions(mixed):
    _, gm = mixed
    with pytest.raises(DataValidationError, match="DataFrame of 3 per-row conditions, but n_sa"):
        gm.sample(5, conditions=pd.DataFrame({"region": ["north"] * 3}))
    with pytest.raises(DataValidationError, match="'region'.*\\['mars'\\], not seen"):
        gm.sample(2, conditions=pd.DataFrame({"region": ["north", "mars"]}))
    with pytest.raises(DataValidationError, match="'tenure' holds a tuple; give a range"):
        gm.sample(2, conditions=pd.DataFrame({"tenure": [(1, 2), None]}))
    with pytest.raises(DataValidationError, match="'tenure' values of type 'string'"):
        gm.sample(2, conditions=pd.DataFrame({"tenure": ["1", "2"]}))
    with pytest.raises(DataValidationError, match="integer column 'age' the values \\[30.5\\]"):
        gm.sample(2, conditions=pd.DataFrame({"age": [30.5, np.nan]}))
    with pytest.raises(DataValidationError, match="column 'nope'"):
        gm.sample(1, conditions=pd.DataFrame({"nope": [1]}))


def test_conditions_on_arrays_name_columns_by_index():
    gm = known_mixture()
    assert gm.sample(3, conditions={np.int64(1): 0.5})[:, 1].tolist() == [0.5] * 3
    with pytest.raises(DataValidationError, match="column 3.*integer column index in 0..2"):
        gm.sample(3, conditions={3: 0.5})
    with pytest.raises(DataValidationError, match="column 'a'.*integer column index"):
        gm.sample(3, conditions={"a": 0.5})


def test_conditions_on_images_are_refused_by_gaussian_mixture(rng):
    images = rng.integers(0, 255, (40, 4, 4)).astype(np.uint8)
    gm = GaussianMixture(1, covariance_type="diag", device="cpu").fit(images)
    with pytest.raises(DataValidationError, match="fitted on images.*use conditions=None"):
        gm.sample(3, conditions={0: 1})


def test_impossible_category_fails_quickly(rng):
    df = pd.DataFrame(
        {
            "size": pd.Categorical(rng.choice(["S", "M"], 500), categories=["S", "M", "XL"]),
            "x": rng.normal(size=500),
        }
    )
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(df)
    start = time.perf_counter()
    with pytest.raises(DataValidationError, match="'size' the value\\(s\\) \\['XL'\\].*zero"):
        gm.sample(100_000, conditions={"size": "XL"})
    assert time.perf_counter() - start < 2.0


def test_unreachable_range_fails_quickly():
    gm = known_mixture()
    start = time.perf_counter()
    with pytest.raises(DataValidationError, match="column 0 to \\[1000, 2000\\].*below 1e-308"):
        gm.sample(100_000, conditions={0: (1000.0, 2000.0)})
    assert time.perf_counter() - start < 2.0
    # far, but within float precision: sampled, not refused
    X = gm.sample(1000, random_state=0, conditions={0: (25.0, None)})
    assert X[:, 0].min() >= 25.0


# ---------------------------------------------------------------------------------------
# The caller's data, determinism, dtypes
# ---------------------------------------------------------------------------------------
def test_callers_conditions_are_not_mutated(mixed):
    _, gm = mixed
    as_dict = {"age": (30, 40), "region": "north", "income": 50000.0}
    as_frame = pd.DataFrame({"plan": ["basic", None], "age": [30, np.nan]}, index=[7, 3])
    before_dict, before_frame = copy.deepcopy(as_dict), as_frame.copy(deep=True)
    gm.sample(10, conditions=as_dict)
    gm.sample(2, conditions=as_frame)
    assert as_dict == before_dict
    pd.testing.assert_frame_equal(as_frame, before_frame)


@pytest.mark.parametrize(
    "conditions",
    [
        {"region": "north", "age": 40},
        {"tenure": (1.0, 3.0), "plan": "plus"},
        pd.DataFrame({"member": [True, False, None] * 10, "age": [30, np.nan, 50] * 10}),
    ],
)
def test_same_seed_same_rows(mixed, conditions):
    _, gm = mixed
    a = gm.sample(30, random_state=11, conditions=conditions)
    b = gm.sample(30, random_state=11, conditions=conditions)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(gm.sample(30, random_state=12, conditions=conditions))


def test_dtypes_are_preserved(mixed):
    df, gm = mixed
    out = gm.sample(
        500,
        random_state=0,
        conditions={"age": 44, "member": False, "plan": "basic", "income": 31234.56},
    )
    assert out.dtypes.equals(df.dtypes)
    assert list(out["plan"].cat.categories) == list(df["plan"].cat.categories)
    assert out["plan"].cat.ordered
    assert (out["age"] == 44).all() and (out["member"] == False).all()  # noqa: E712
    assert (out["income"] == 31234.56).all() and (out["plan"] == "basic").all()
    ranged = gm.sample(500, random_state=0, conditions={"age": (20.5, 29.5)})
    assert ranged.dtypes.equals(df.dtypes) and ranged["age"].between(21, 29).all()


def test_a_category_seen_once_in_a_large_float32_fit_is_possible():
    """Whether a category occurred comes from the fitted counts, not from a probability
    floor, which a single row in 50,000 falls under in float32."""
    rng = np.random.default_rng(0)
    labels = rng.choice(["a", "b"], 50_000).astype(object)
    labels[123] = "rare"
    frame = pd.DataFrame({"x": rng.normal(size=50_000), "c": pd.Series(labels, dtype="str")})
    model = GaussianMixture(n_components=10, max_iter=5, dtype="float32", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame)
    assert (model.sample(3, conditions={"c": "rare"})["c"] == "rare").all()

"""hybridgen.metrics against closed forms and independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, norm

from hybridgen.exceptions import DataValidationError, InvalidParameterError
from hybridgen.metrics import (
    column_pair_trends,
    column_shapes,
    dcr_ratio,
    ml_utility,
    quality_score,
)


def _separable(rng, n=400, n_classes=2):
    """A table whose label is a threshold on ``x``; ``noise`` and ``colour`` carry nothing."""
    x = rng.normal(size=n)
    edges = norm.ppf(np.linspace(0, 1, n_classes + 1)[1:-1])  # classes of equal probability
    label = np.array(["no", "yes", "maybe"])[np.searchsorted(edges, x)]
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green"], n),
            "label": label,
        }
    )


def _blobs(rng, n):
    group = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "a": rng.normal(3.0 * group, 1.0),
            "b": rng.normal(size=n) + group,
            "c": np.where(group == 1, "p", rng.choice(["q", "r"], n)),
        }
    )


# -- fidelity -------------------------------------------------------------------------------
def test_identical_frames_score_one_and_are_left_untouched(mixed_frame):
    before = mixed_frame.copy()
    assert (column_shapes(mixed_frame, mixed_frame) == 1.0).all()
    trends = column_pair_trends(mixed_frame, mixed_frame)
    assert len(trends) == 10 and (trends["score"] == 1.0).all()
    shuffled = mixed_frame.sample(frac=1.0, random_state=0)[mixed_frame.columns[::-1]]
    assert quality_score(mixed_frame, shuffled) == pytest.approx(
        {"column_shapes": 1.0, "column_pair_trends": 1.0, "overall": 1.0}
    )
    pd.testing.assert_frame_equal(mixed_frame, before)


def test_ks_complement_equals_scipy(rng):
    real = pd.DataFrame({"f": rng.normal(size=300), "i": rng.integers(0, 5, 300)})
    synthetic = pd.DataFrame({"f": rng.normal(0.3, 1.2, 211), "i": rng.integers(0, 6, 211)})
    synthetic.loc[:20, "f"] = np.nan  # missing values are dropped
    shapes = column_shapes(real, synthetic)
    for column in ("f", "i"):
        expected = 1.0 - ks_2samp(real[column], synthetic[column].dropna()).statistic
        assert shapes[column] == pytest.approx(expected, abs=1e-12)


def test_tv_complement_on_hand_computed_frequencies():
    real = pd.DataFrame({"c": ["a", "a", "b", None]})  # a 1/2, b 1/4, missing 1/4
    synthetic = pd.DataFrame({"c": pd.Categorical(["a", "b", "b", "d"])})  # a, d 1/4; b 1/2
    # |1/2-1/4| + |1/4-1/2| + |1/4-0| + |0-1/4| = 1, so TV = 1/2
    assert column_shapes(real, synthetic)["c"] == pytest.approx(0.5)
    flags = pd.DataFrame({"c": [True, True, False, False]})
    assert column_shapes(flags, pd.DataFrame({"c": [True] * 4}))["c"] == pytest.approx(0.5)


def test_correlation_similarity_closed_forms():
    x = np.arange(10.0)
    real = pd.DataFrame({"x": x, "y": 2 * x + 1})
    anti = pd.DataFrame({"x": [*x, 3.0], "y": [*(-x), np.nan]})  # the NaN row is left out
    trends = column_pair_trends(real, anti)
    assert trends.loc[0, "metric"] == "correlation_similarity"
    assert trends.loc[0, "score"] == pytest.approx(0.0)
    uncorrelated = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [1.0, -1, -1, 1]})  # rho = 0
    assert column_pair_trends(real.iloc[:4], uncorrelated).loc[0, "score"] == pytest.approx(0.5)


def test_contingency_similarity_of_a_hand_made_two_by_two_table():
    real = pd.DataFrame({"u": ["a", "a", "b", "b"], "v": ["x", "x", "y", "y"]})
    synthetic = pd.DataFrame({"u": ["a", "a", "b", "b"], "v": ["x", "y", "x", "y"]})
    # P_real = {ax: 1/2, by: 1/2}; P_syn = 1/4 each cell: sum |diff| = 1, score 1/2
    trends = column_pair_trends(real, synthetic)
    assert trends.iloc[0].tolist() == ["u", "v", "contingency_similarity", 0.5]
    assert (column_shapes(real, synthetic) == 1.0).all()


def test_contingency_bins_come_from_the_real_range_and_clip():
    real = pd.DataFrame({"n": [0.0, 10.0], "c": ["a", "b"]})
    outside = pd.DataFrame({"n": [-5.0, 20.0], "c": ["a", "b"]})  # end bins, same cells
    assert column_pair_trends(real, outside).loc[0, "score"] == pytest.approx(1.0)
    swapped = pd.DataFrame({"n": [20.0, -5.0], "c": ["a", "b"]})
    assert column_pair_trends(real, swapped).loc[0, "score"] == pytest.approx(0.0)


def test_contingency_similarity_matches_pandas_crosstab(rng):
    real = _blobs(rng, 300)
    synthetic = _blobs(rng, 200).assign(a=lambda f: f["a"] * 1.3)
    edges = np.linspace(real["a"].min(), real["a"].max(), 11)

    def table(frame):
        binned = pd.cut(frame["a"].clip(edges[0], edges[-1]), edges, include_lowest=True)
        return pd.crosstab(binned, frame["c"], normalize=True)

    gap = table(real).sub(table(synthetic), fill_value=0.0).abs().to_numpy().sum()
    trends = column_pair_trends(real, synthetic).set_index(["column_1", "column_2"])
    assert trends.loc[("a", "c"), "metric"] == "contingency_similarity"
    assert trends.loc[("a", "c"), "score"] == pytest.approx(1.0 - 0.5 * gap)


def test_quality_score_is_the_mean_of_the_two_properties(rng):
    real, synthetic = _blobs(rng, 200), _blobs(rng, 150)
    scores = quality_score(real, synthetic)
    assert scores["column_shapes"] == pytest.approx(column_shapes(real, synthetic).mean())
    pairs = column_pair_trends(real, synthetic)
    assert scores["column_pair_trends"] == pytest.approx(pairs["score"].mean())
    assert scores["overall"] == pytest.approx(
        (scores["column_shapes"] + scores["column_pair_trends"]) / 2
    )


# -- utility --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["hgb", "logreg"])
def test_ml_utility_on_a_separable_problem(rng, model):
    train, test = _separable(rng), _separable(rng, 300)
    test.loc[:5, "colour"] = "blue"  # unseen in training: missing (hgb) or all-zero (logreg)
    scores = ml_utility(train, test, "label", positive="yes", model=model)
    assert scores["f1"] > 0.9 and scores["roc_auc"] > 0.97


def test_ml_utility_multiclass_and_regression(rng):
    train, test = _separable(rng, n_classes=3), _separable(rng, 300, n_classes=3)
    scores = ml_utility(train, test, "label", model="logreg")
    assert scores["f1"] > 0.85 and scores["roc_auc"] > 0.95
    train["y"], test["y"] = 2.0 * train["x"] + 0.1, 2.0 * test["x"] + 0.1
    r2 = ml_utility(train.drop(columns="label"), test.drop(columns="label"), "y", model="logreg")
    assert r2["r2"] > 0.99


def test_ml_utility_with_a_single_class_in_train(rng):
    train, test = _separable(rng), _separable(rng, 100)
    train["label"] = "no"
    assert ml_utility(train, test, "label", positive="yes") == {"f1": 0.0, "roc_auc": 0.5}


# -- privacy --------------------------------------------------------------------------------
def test_dcr_ratio_of_a_fresh_sample_and_of_a_copy(rng):
    train, test, fresh = _blobs(rng, 500), _blobs(rng, 500), _blobs(rng, 500)
    assert dcr_ratio(fresh, train, test)["ratio"] == pytest.approx(1.0, abs=0.2)
    copy = dcr_ratio(train.sample(frac=1.0, random_state=0), train, test, max_rows=200)
    assert copy["ratio"] < 1e-6 and copy["exact_copy_rate"] == 1.0
    assert copy["dcr_test"] > 0.1


# -- errors ---------------------------------------------------------------------------------
def test_errors_name_the_column_or_parameter(rng):
    real = _blobs(rng, 50)
    with pytest.raises(DataValidationError, match="'c'"):
        column_shapes(real, real.drop(columns="c"))
    with pytest.raises(DataValidationError, match="'extra'"):
        column_pair_trends(real, real.assign(extra=1))
    with pytest.raises(DataValidationError, match="'a'.*numeric"):
        quality_score(real, real.assign(a=real["a"].astype(str)))
    with pytest.raises(DataValidationError, match="'income'"):
        ml_utility(real, real, "income")
    with pytest.raises(DataValidationError, match="'maybe'"):
        ml_utility(real, real, "c", positive="maybe")
    with pytest.raises(InvalidParameterError, match="'model' parameter of ml_utility"):
        ml_utility(real, real, "c", model="forest")
    with pytest.raises(DataValidationError, match="'b'"):
        dcr_ratio(real, real, real.drop(columns="b"))
    with pytest.raises(InvalidParameterError, match="'max_rows'"):
        dcr_ratio(real, real, real, max_rows=0)

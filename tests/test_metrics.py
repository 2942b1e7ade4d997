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
    is_numeric,
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


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    from hybridgen.metrics import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal([0.0, 1.0, 2.0], [1.0, 2.0, 0.5], size=(200_000, 3))
    b = rng.normal([1.0, 1.0, 0.0], [2.0, 1.0, 0.5], size=(200_000, 3))
    # ||mu_a - mu_b||^2 + sum (s_a - s_b)^2 for diagonal covariances
    expected = (1.0 + 0.0 + 4.0) + (1.0 + 1.0 + 0.0)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_image_features_separate_classes():
    from hybridgen.metrics import ImageFeatures, frechet_distance

    rng = np.random.default_rng(0)
    images = rng.integers(0, 50, (200, 8, 8)).astype(np.uint8)
    images[:100, 1:4, 1:4] = 250
    images[100:, 4:7, 4:7] = 250
    labels = np.repeat([0, 1], 100)
    features = ImageFeatures(epochs=5, batch_size=32).fit(images, labels)
    assert features.accuracy_ > 0.95
    f = features.transform(images)
    assert f.shape == (200, 128)
    same = frechet_distance(f[:50], f[50:100])
    other = frechet_distance(f[:50], f[150:])
    assert other > 3 * same


def test_detection_auc_is_half_for_the_same_distribution_and_one_for_another():
    from hybridgen.metrics import detection_auc

    rng = np.random.default_rng(0)

    def frame(shift, n=2000):
        return pd.DataFrame(
            {
                "x": rng.normal(shift, 1.0, n),
                "c": pd.Categorical(
                    rng.choice(["a", "b"], n, p=[0.5 + shift / 10, 0.5 - shift / 10])
                ),
            }
        )

    real = frame(0.0)
    assert abs(detection_auc(real, frame(0.0)) - 0.5) < 0.05
    assert detection_auc(real, frame(3.0)) > 0.95
    assert detection_auc(real, frame(3.0), model="hgb") > 0.95


def test_precision_recall_density_coverage_against_hand_counted_cases():
    from hybridgen.metrics import precision_recall_density_coverage

    rng = np.random.default_rng(0)
    real = rng.normal(size=(1000, 2))
    same = precision_recall_density_coverage(real, rng.normal(size=(1000, 2)))
    assert same["precision"] > 0.85 and same["recall"] > 0.85
    assert 0.8 < same["density"] < 1.2 and same["coverage"] > 0.85
    # fakes piled onto one real mode: precise, but neither diverse nor covering
    collapsed = precision_recall_density_coverage(real, rng.normal(0, 0.05, size=(1000, 2)))
    assert collapsed["precision"] > 0.95 and collapsed["recall"] < 0.2
    assert collapsed["coverage"] < 0.2
    far = precision_recall_density_coverage(real, rng.normal(20, 1, size=(1000, 2)))
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    # a tiny case counted by hand, k=1: reals 0, 1, 3 (radii 1, 1, 2); fakes 0.5, 5.5,
    # 6.5 (radii 5, 1, 1)
    tiny = precision_recall_density_coverage(
        np.array([[0.0], [1.0], [3.0]]), np.array([[0.5], [5.5], [6.5]]), k=1
    )
    assert tiny["precision"] == pytest.approx(1 / 3)  # only 0.5 lies in a real ball
    assert tiny["density"] == pytest.approx(2 / 3)  # 0.5 lies in two real balls
    assert tiny["coverage"] == pytest.approx(2 / 3)  # the balls of 0 and 1 hold a fake
    assert tiny["recall"] == pytest.approx(1.0)  # the ball of 0.5 holds 0, 1 and 3


def test_quality_matches_sdmetrics():
    """The optional reference: SDMetrics' own metrics on the same two tables.

    SDMetrics needs pandas < 3, so it lives in the benchmark environment (``make bench``
    builds it), not in .venv. Shapes: KSComplement and TVComplement. Pairs:
    CorrelationSimilarity, and ContingencySimilarity with a numeric column binned on
    the real column's range (``continuous_column_names``).
    """
    sdmetrics = pytest.importorskip("sdmetrics")
    from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
    from sdmetrics.single_column import KSComplement, TVComplement

    from hybridgen import GaussianMixture
    from hybridgen.datasets import make_mixed_table

    real = make_mixed_table(1500, random_state=0).dropna()
    real = real.astype({"region": object, "plan": object}).reset_index(drop=True)
    synthetic = GaussianMixture(n_components=3, random_state=0).fit(real).sample(1500)
    synthetic = synthetic.astype({"region": object, "plan": object})
    numeric = [c for c in real.columns if is_numeric(real[c])]
    for column, score in column_shapes(real, synthetic).items():
        metric = KSComplement if column in numeric else TVComplement
        assert score == pytest.approx(metric.compute(real[column], synthetic[column]), abs=1e-9)
    for a, b, kind, score in column_pair_trends(real, synthetic).itertuples(index=False):
        if kind == "correlation_similarity":
            reference = CorrelationSimilarity.compute(real[[a, b]], synthetic[[a, b]])
        else:
            binned = [c for c in (a, b) if c in numeric]
            reference = ContingencySimilarity.compute(
                real[[a, b]], synthetic[[a, b]], continuous_column_names=binned or None
            )
        assert score == pytest.approx(reference, abs=1e-9), (a, b, kind, sdmetrics.__version__)

"""compare(), its adapters and its report: tidy results, fairness, clear errors."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import BaseEstimator

from hybridgen import GaussianMixture
from hybridgen import metrics as hg_metrics
from hybridgen.adapters import CTGANSynthesizer, SklearnGaussianMixture
from hybridgen.compare import METRICS, MODELS, REAL, compare, make_model, run_comparison
from hybridgen.datasets import load_digits_images, make_mixed_table
from hybridgen.exceptions import DataValidationError, InvalidParameterError, NumericalError
from hybridgen.report import write_report


@pytest.fixture
def table() -> pd.DataFrame:
    return make_mixed_table(400, random_state=0)


class Copier(BaseEstimator):
    """Not a generative model: samples rows of its training data (a privacy leak)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.rows_ = X.reset_index(drop=True)
        return self

    def sample(self, n_samples):  # no random_state keyword, and a tuple as scikit-learn's
        index = np.random.RandomState(self.random_state).randint(len(self.rows_), size=n_samples)
        return self.rows_.iloc[index].reset_index(drop=True), np.zeros(n_samples)


class Failing(BaseEstimator):
    def fit(self, X, y=None):
        raise NumericalError("diverged")

    def sample(self, n_samples):  # pragma: no cover - never reached
        raise AssertionError


def test_tidy_frame_one_row_per_estimator_and_metric(table):
    scores = compare({"gmm": GaussianMixture(n_components=2)}, table, target="member")
    assert list(scores.columns) == ["estimator", "metric", "value", "group", "best"]
    assert not scores.duplicated(["estimator", "metric"]).any()
    assert set(scores["estimator"]) == {"gmm", REAL}
    gmm = set(scores.loc[scores["estimator"] == "gmm", "metric"])
    assert {
        "fit_seconds",
        "log_likelihood",
        "overall_quality",
        "detection_auc",
        "dcr_ratio",
        "exact_copy_rate",
        "hgb_f1",
        "logreg_roc_auc",
    } <= gmm
    assert set(scores["metric"]) <= set(METRICS)
    assert scores["group"].eq(scores["metric"].map(lambda m: METRICS[m][0])).all()


def test_real_row_is_train_on_real_and_scores_match_the_metric_functions(table):
    comparison = run_comparison({"gmm": GaussianMixture(n_components=2)}, table, target="member")
    train, test = comparison.train, comparison.test
    assert len(train) == 300 and len(test) == 100
    assert pd.concat([train, test]).sort_values(["age", "income", "tenure"]).shape == table.shape
    real = comparison.scores.query("estimator == @REAL").set_index("metric")["value"]
    ceiling = hg_metrics.ml_utility(train, test, "member", model="hgb", random_state=0)
    assert real["hgb_f1"] == pytest.approx(ceiling["f1"])
    assert real["overall_quality"] == pytest.approx(
        hg_metrics.quality_score(train, test)["overall"]
    )
    gmm = comparison.scores.query("estimator == 'gmm'").set_index("metric")["value"]
    synthetic = comparison.synthetic["gmm"]
    assert len(synthetic) == len(train)
    assert gmm["column_shapes"] == pytest.approx(
        hg_metrics.quality_score(train, synthetic)["column_shapes"]
    )


def test_estimators_are_cloned_seeded_and_the_data_untouched(table):
    before = table.copy()
    model = GaussianMixture(n_components=2, random_state=123)
    first = compare([model], table, random_state=3)
    second = compare([model], table, random_state=3)
    pd.testing.assert_frame_equal(table, before)
    assert model.get_params()["random_state"] == 123 and not hasattr(model, "weights_")
    keep = ~first["metric"].str.endswith("_seconds")
    pd.testing.assert_frame_equal(first[keep], second[keep])


def test_any_fit_sample_object_takes_part_and_copying_is_caught(table):
    scores = compare([Copier(), Copier()], table)
    assert {"Copier", "Copier-2"} <= set(scores["estimator"])
    copier = scores.query("estimator == 'Copier'").set_index("metric")["value"]
    assert copier["exact_copy_rate"] > 0.95  # near 1 (rows may repeat by chance in the split)
    assert copier["dcr_ratio"] == 0.0
    assert "log_likelihood" not in copier.index  # no score method


def test_a_failed_fit_is_reported_and_the_rest_go_on(table):
    comparison = run_comparison({"bad": Failing(), "gmm": GaussianMixture(n_components=2)}, table)
    assert "diverged" in comparison.errors["bad"]
    assert "bad" not in set(comparison.scores["estimator"])
    assert "gmm" in set(comparison.scores["estimator"])


def test_images_with_labels_get_feature_metrics():
    images, labels = load_digits_images()
    images, labels = images[:400], labels[:400]
    scores = compare(
        {"gmm": GaussianMixture(n_components=2, covariance_type="diag")}, images, labels=labels
    )
    gmm = scores.query("estimator == 'gmm'").set_index("metric")["value"]
    assert {"frechet_distance", "precision", "recall", "density", "coverage"} <= set(gmm.index)
    assert gmm["bits_per_dim"] == pytest.approx(-gmm["log_likelihood"] / (64 * np.log(2)))
    real = scores.query("estimator == @REAL").set_index("metric")["value"]
    assert real["frechet_distance"] < gmm["frechet_distance"]


def test_the_feature_network_is_trained_once_per_dataset(tmp_path, monkeypatch):
    images, labels = load_digits_images()
    images, labels = images[:200], labels[:200]
    first = hg_metrics.cached_image_features(images, labels, cache_dir=tmp_path)
    assert hg_metrics.cached_image_features(images, labels, cache_dir=tmp_path) is first
    assert len(list((tmp_path / "features").glob("*.safetensors"))) == 1
    monkeypatch.setattr(hg_metrics, "_FEATURES", {})  # a new process: read from disk
    monkeypatch.setattr(hg_metrics.ImageFeatures, "fit", lambda *a: pytest.fail("retrained"))
    again = hg_metrics.cached_image_features(images, labels, cache_dir=tmp_path)
    assert again is not first and again.accuracy_ == first.accuracy_
    np.testing.assert_allclose(again.transform(images[:20]), first.transform(images[:20]))
    with pytest.raises(pytest.fail.Exception, match="retrained"):  # another seed: another key
        hg_metrics.cached_image_features(images, labels, random_state=1, cache_dir=tmp_path)


def test_images_without_labels_still_compare_likelihoods():
    images, _ = load_digits_images()
    scores = compare({"gmm": GaussianMixture(n_components=2, covariance_type="diag")}, images[:300])
    assert "frechet_distance" not in set(scores["metric"])
    assert "bits_per_dim" in set(scores["metric"])


def test_arrays_are_compared_as_tables():
    X = np.random.default_rng(0).normal(size=(300, 3))
    comparison = run_comparison([GaussianMixture(n_components=1)], X)
    assert list(comparison.train.columns) == ["x0", "x1", "x2"]
    assert "column_pair_trends" in set(comparison.scores["metric"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"test_size": 1.5},
            "The 'test_size' parameter of compare must be a float in the range (0, 1)",
        ),
        ({"n_samples": 1}, "The 'n_samples' parameter of compare must be an int in the range [2"),
        ({"target": "nope"}, "The target column 'nope' is not in the data"),
        ({"labels": [1, 2]}, "labels has 2 entries but the data has 400 rows"),
    ],
)
def test_bad_arguments_name_what_was_expected(table, kwargs, message):
    error = InvalidParameterError if "parameter" in message else DataValidationError
    with pytest.raises(error, match=re.escape(message)):
        compare([GaussianMixture()], table, **kwargs)


def test_bad_estimators_are_named(table):
    with pytest.raises(InvalidParameterError, match="must have fit and sample"):
        compare({"x": object()}, table)
    with pytest.raises(InvalidParameterError, match="reserved"):
        compare({REAL: GaussianMixture()}, table)
    with pytest.raises(InvalidParameterError, match="needs a DataFrame"):
        compare([GaussianMixture()], np.zeros((20, 2)), target=0)


def test_make_model_knows_every_model_and_names_bad_ones():
    for name, cls in MODELS.items():
        assert type(make_model(name)) is cls
    assert make_model("vae", epochs=3).epochs == 3
    with pytest.raises(InvalidParameterError, match="Unknown model 'gan'; expected one of gmm"):
        make_model("gan")
    with pytest.raises(InvalidParameterError, match="VAE has no parameter 'epoch'"):
        make_model("vae", epoch=3)


# -- adapters -----------------------------------------------------------------------------------
def test_sklearn_adapter_likelihood_is_in_original_units():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2)) @ [[100.0, 0.05], [0.0, 0.1]] + [5.0, -3.0]
    model = SklearnGaussianMixture(n_components=1, reg_covar=1e-12).fit(X)
    reference = multivariate_normal(X.mean(0), np.cov(X.T, bias=True)).logpdf(X)
    np.testing.assert_allclose(model.score_samples(X), reference, rtol=1e-8)
    draws = model.sample(20000, random_state=0)
    np.testing.assert_allclose(draws.mean(0), X.mean(0), atol=0.05 * X.std(0).max())


def test_sklearn_adapter_on_a_mixed_table_samples_the_same_kind_but_has_no_likelihood(table):
    model = SklearnGaussianMixture(n_components=3, random_state=0).fit(table)
    drawn = model.sample(50)
    assert list(drawn.columns) == list(table.columns)
    assert (drawn.dtypes == table.dtypes).all()
    assert drawn.equals(model.sample(50))  # seeded by random_state
    with pytest.raises(NotImplementedError, match="categorical or missing"):
        model.score(table)


def test_sklearn_adapter_images_round_trip():
    images, _ = load_digits_images()
    model = SklearnGaussianMixture(n_components=2, covariance_type="diag").fit(images[:200])
    drawn = model.sample(5, random_state=0)
    assert drawn.shape == (5, 8, 8) and drawn.dtype == np.uint8
    assert np.isfinite(model.score(images[200:300]))


def test_sdv_adapter_without_ctgan_says_what_to_install(table):
    pytest.importorskip("sklearn")
    try:
        import ctgan  # noqa: F401
    except ImportError:
        with pytest.raises(Exception, match=r"needs the 'ctgan' package"):
            CTGANSynthesizer(epochs=1).fit(table)
    else:  # pragma: no cover - only in the benchmark environment
        drawn = CTGANSynthesizer(epochs=1, batch_size=20, random_state=0).fit(table).sample(30)
        assert list(drawn.columns) == list(table.columns)


# -- report -------------------------------------------------------------------------------------
def test_report_is_written_with_every_plot_linked_and_embedded(table, tmp_path):
    images, labels = load_digits_images()
    sections = {
        "table": run_comparison(
            {"gmm": GaussianMixture(n_components=2), "copy": Copier()}, table, target="member"
        ),
        "digits": run_comparison(
            [GaussianMixture(n_components=2, covariance_type="diag")],
            images[:300],
            labels=labels[:300],
        ),
    }
    path = write_report(sections, tmp_path / "report")
    markdown = (tmp_path / "report" / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert {
        "table-metrics.png",
        "table-marginals-1-gmm.png",
        "table-pair-trends.png",
        "digits-samples.png",
        "digits-metrics.png",
    } <= set(linked)
    for name in linked:
        assert (tmp_path / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = path.read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == len(linked)
    assert all(base64.b64decode(png)[:4] == b"\x89PNG" for png in embedded)
    assert "http" not in page.replace("http-equiv", "")  # self-contained
    assert "| hgb_f1 | higher |" in markdown and "<td>frechet_distance</td>" in page


def test_integer_column_names_and_a_float_class_target_do_not_break_the_run():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            1: rng.choice(["x", "y"], 200),
            0: rng.normal(size=200),
            2: rng.integers(0, 2, 200).astype(float),  # a class target stored as floats
        }
    )
    comparison = run_comparison([GaussianMixture(n_components=2)], frame, target=2)
    real = comparison.scores.query("estimator == @REAL")
    assert {"logreg_f1", "hgb_f1"} <= set(real["metric"])  # labels read as labels
    assert "GaussianMixture" in set(comparison.scores["estimator"])  # its own row survives


class Plain:
    """Not a scikit-learn estimator: compare must copy it, not fit the caller's object."""

    def fit(self, X, y=None):
        self.rows_ = X
        return self

    def sample(self, n_samples):
        return self.rows_.sample(n_samples, replace=True, random_state=0).reset_index(drop=True)


def test_objects_scikit_learn_cannot_clone_are_copied(table):
    plain = Plain()
    compare({"plain": plain}, table)
    assert not hasattr(plain, "rows_")


def test_a_failing_sample_is_recorded_and_an_empty_report_still_writes(table, tmp_path):
    class BadSample(Copier):
        def sample(self, n_samples):
            raise ValueError("no rows today")

    comparison = run_comparison({"bad": BadSample()}, table)
    assert comparison.errors["bad"] == "ValueError: no rows today"
    assert write_report(comparison, tmp_path / "r").exists()


def test_names_that_slug_alike_get_separate_plots(table, tmp_path):
    comparison = run_comparison(
        {"a b": GaussianMixture(n_components=1), "a-b": GaussianMixture(n_components=2)}, table
    )
    write_report(comparison, tmp_path / "r")
    assert len(list((tmp_path / "r").glob("marginals-*.png"))) == 2

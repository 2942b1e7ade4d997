"""The contract every estimator keeps, run over all of them (a new estimator inherits it)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

import hybridgen
from hybridgen.exceptions import (
    DataValidationError,
    HybridgenWarning,
    InvalidParameterError,
    ModelFormatError,
    NotFittedError,
)

ESTIMATORS = hybridgen.all_estimators()


def make(cls, **extra):
    """A quick, seeded, CPU instance of ``cls``."""
    return cls(**{**cls._quick_params, "random_state": 0, "device": "cpu", **extra})


@pytest.fixture
def digits_images(rng):
    """Small uint8 images (N, H, W) with two classes of blobs."""
    images = np.zeros((120, 8, 8), dtype=np.uint8)
    images[:60, 1:4, 1:4] = 200
    images[60:, 4:7, 4:7] = 250
    noise = rng.integers(0, 40, images.shape).astype(np.uint8)
    return images + noise


@pytest.fixture(params=["frame", "array", "images"])
def dataset(request, mixed_frame, rng, digits_images):
    if request.param == "frame":
        return mixed_frame
    if request.param == "array":
        return rng.normal(size=(200, 3)) + np.array([0.0, 5.0, -3.0])
    return digits_images


@pytest.mark.parametrize("cls", ESTIMATORS)
class TestContract:
    def test_fit_returns_self_and_sets_input_attributes(self, cls, dataset):
        est = make(cls)
        assert est.fit(dataset) is est
        if isinstance(dataset, pd.DataFrame):
            assert est.n_features_in_ == dataset.shape[1]
            assert list(est.feature_names_in_) == list(dataset.columns)
        else:
            assert not hasattr(est, "feature_names_in_")

    def test_sample_is_data_of_the_kind_fitted(self, cls, dataset):
        est = make(cls).fit(dataset)
        out = est.sample(50)
        if isinstance(dataset, pd.DataFrame):
            assert isinstance(out, pd.DataFrame) and list(out.columns) == list(dataset.columns)
            assert out.dtypes.equals(dataset.dtypes)
            assert list(out["size"].cat.categories) == list(dataset["size"].cat.categories)
            assert out["age"].between(dataset["age"].min(), dataset["age"].max()).all()
        else:
            assert isinstance(out, np.ndarray)
            assert out.shape == (50, *dataset.shape[1:])
            assert out.dtype == (dataset.dtype if dataset.ndim > 2 else np.float64)

    def test_score_is_mean_of_score_samples(self, cls, dataset):
        est = make(cls).fit(dataset)
        ll = est.score_samples(dataset)
        assert ll.shape == (len(dataset),) and np.isfinite(ll).all()
        assert est.score(dataset) == pytest.approx(ll.mean())

    def test_same_seed_same_result(self, cls, dataset):
        a, b = make(cls).fit(dataset), make(cls).fit(dataset)
        np.testing.assert_array_equal(a.score_samples(dataset), b.score_samples(dataset))
        pd.testing.assert_frame_equal(
            pd.DataFrame(np.asarray(a.sample(20)).reshape(20, -1)),
            pd.DataFrame(np.asarray(b.sample(20)).reshape(20, -1)),
        )

    def test_clone_and_params_round_trip(self, cls):
        est = make(cls)
        twin = clone(est)
        assert twin.get_params() == est.get_params()
        assert not hasattr(twin, "transformer_")

    def test_save_load_round_trip(self, cls, dataset, tmp_path):
        est = make(cls).fit(dataset)
        path = tmp_path / "model.hg"
        est.save(path)
        back = hybridgen.load(path)
        assert type(back) is cls and back.get_params() == est.get_params()
        np.testing.assert_array_equal(back.score_samples(dataset), est.score_samples(dataset))
        first, second = est.sample(10, random_state=3), back.sample(10, random_state=3)
        if isinstance(first, pd.DataFrame):
            pd.testing.assert_frame_equal(first, second)
        else:
            np.testing.assert_array_equal(first, second)
        assert cls.load(path).n_features_in_ == est.n_features_in_

    def test_cuda_saved_model_loads_on_cpu(self, cls, mixed_frame, tmp_path):
        est = make(cls).fit(mixed_frame)
        est.set_params(device="cuda")  # as if fitted on a GPU: state is stored on the CPU
        est.save(tmp_path / "gpu.hg")
        if torch.cuda.is_available():
            back = hybridgen.load(tmp_path / "gpu.hg")
        else:
            with pytest.warns(HybridgenWarning, match="loaded with device='cpu'"):
                back = hybridgen.load(tmp_path / "gpu.hg")
        assert np.isfinite(back.score(mixed_frame))
        assert hybridgen.load(tmp_path / "gpu.hg", device="cpu").device == "cpu"

    def test_load_refuses_other_files(self, cls, tmp_path):
        bad = tmp_path / "bad.hg"
        bad.write_bytes(b"not a model")
        with pytest.raises(ModelFormatError):
            cls.load(bad)

    def test_caller_data_is_untouched(self, cls, mixed_frame):
        before = copy.deepcopy(mixed_frame)
        est = make(cls).fit(mixed_frame)
        est.score_samples(mixed_frame)
        pd.testing.assert_frame_equal(mixed_frame, before)

    def test_clear_errors(self, cls, mixed_frame):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            make(cls).sample(3)
        est = make(cls).fit(mixed_frame)
        with pytest.raises(DataValidationError, match="age"):
            est.score(mixed_frame.drop(columns="age"))
        with pytest.raises(InvalidParameterError, match="n_samples"):
            est.sample(0)
        with pytest.raises(InvalidParameterError, match="random_state"):
            make(cls, random_state="seed").fit(mixed_frame)


def make_conditional(cls, columns, **extra):
    """A quick instance that conditions on ``columns``: a neural estimator is told to
    learn them (``condition_columns``); a mixture conditions on any column exactly."""
    est = make(cls, **extra)
    if "condition_columns" in est.get_params():
        est.set_params(condition_columns=list(columns))
    return est


def labelled_images(digits_images):
    return digits_images, np.array(["blob-a"] * 60 + ["blob-b"] * 60)


@pytest.mark.parametrize("cls", ESTIMATORS)
class TestConditionalContract:
    """sample(conditions=...): every returned row meets every condition exactly."""

    def test_dict_conditions_hold_in_every_row(self, cls, mixed_frame):
        est = make_conditional(cls, ["size", "age", "member"]).fit(mixed_frame)
        out = est.sample(80, conditions={"size": "M", "age": (30, 45), "member": True})
        assert (out["size"] == "M").all() and out["member"].all()
        assert out["age"].between(30, 45).all()
        assert out.dtypes.equals(mixed_frame.dtypes)
        assert list(out["size"].cat.categories) == ["S", "M", "L"]

    def test_per_row_dataframe_conditions(self, cls, mixed_frame):
        est = make_conditional(cls, ["size", "age"]).fit(mixed_frame)
        rows = pd.DataFrame({"size": ["S", None, "L", "M"], "age": [30, 50, np.nan, 41]})
        out = est.sample(4, conditions=rows, random_state=1)
        assert out["size"].iloc[[0, 2, 3]].tolist() == ["S", "L", "M"]
        assert out["age"].iloc[[0, 1, 3]].tolist() == [30, 50, 41]

    def test_a_column_outside_the_learned_ones(self, cls, mixed_frame):
        """Neural estimators fall back to bounded rejection; rows still meet it."""
        est = make_conditional(cls, ["size"]).fit(mixed_frame)
        out = est.sample(30, conditions={"size": "L", "city": "north"}, random_state=0)
        assert (out["size"] == "L").all() and (out["city"] == "north").all()

    def test_same_seed_same_conditional_rows(self, cls, mixed_frame):
        est = make_conditional(cls, ["size"]).fit(mixed_frame)
        a = est.sample(20, conditions={"size": "S"}, random_state=4)
        pd.testing.assert_frame_equal(a, est.sample(20, conditions={"size": "S"}, random_state=4))

    def test_save_load_keeps_the_conditional(self, cls, mixed_frame, tmp_path):
        est = make_conditional(cls, ["size", "age"]).fit(mixed_frame)
        est.save(tmp_path / "c.hg")
        back = hybridgen.load(tmp_path / "c.hg")
        np.testing.assert_array_equal(
            back.score_samples(mixed_frame), est.score_samples(mixed_frame)
        )
        conditions = {"size": "L", "age": (20, 30)}
        pd.testing.assert_frame_equal(
            est.sample(10, conditions=conditions, random_state=2),
            back.sample(10, conditions=conditions, random_state=2),
        )

    def test_impossible_conditions_fail_quickly_and_clearly(self, cls, mixed_frame):
        import time

        est = make_conditional(cls, ["size"]).fit(mixed_frame)
        start = time.perf_counter()
        with pytest.raises(DataValidationError, match="'XL'"):
            est.sample(10_000, conditions={"size": "XL"})
        with pytest.raises(DataValidationError, match="income"):
            est.sample(10_000, conditions={"income": (1e6, 2e6)})
        assert time.perf_counter() - start < 5.0

    def test_labelled_images(self, cls, digits_images):
        X, y = labelled_images(digits_images)
        est = make(cls).fit(X, y)
        assert list(est.classes_) == ["blob-a", "blob-b"]
        out = est.sample(6, conditions="blob-b")
        assert out.shape == (6, 8, 8) and out.dtype == np.uint8
        assert est.sample(3, conditions=["blob-a", "blob-b", "blob-a"]).shape == (3, 8, 8)
        ll = est.score_samples(X)  # log p(x), the label summed out
        assert ll.shape == (120,) and np.isfinite(ll).all()
        with pytest.raises(DataValidationError, match="'blob-c'.*blob-a"):
            est.sample(2, conditions="blob-c")
        with pytest.raises(DataValidationError, match="one class label per image"):
            make(cls).fit(X, y[:-1])
        refit = est.fit(X)  # without labels: unconditional again
        assert not hasattr(refit, "classes_")
        with pytest.raises(DataValidationError, match="fitted on images"):
            refit.sample(2, conditions="blob-a")

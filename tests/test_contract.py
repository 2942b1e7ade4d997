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

"""Shared fixtures: seeded data, the shared data folder, device selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed_everything():
    """Library code never touches global RNG state; tests that do get a fixed seed."""
    np.random.seed(0)  # noqa: NPY002 - guards against code that wrongly uses the global RNG
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory, monkeypatch):
    """Caches (downloads, image-feature networks) go to a folder of this test session,
    never to the user's ~/.cache."""
    monkeypatch.setenv("HYBRIDGEN_DATA", str(tmp_path_factory.getbasetemp() / "data_home"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def mixed_frame(rng) -> pd.DataFrame:
    """A small mixed table: float with NaN, int, bool, str categorical with NaN, Categorical."""
    n = 300
    group = rng.integers(0, 2, n)
    age = np.where(group == 1, rng.normal(50, 5, n), rng.normal(25, 3, n)).round().astype("int64")
    income = rng.normal(3.0 + group, 0.5, n)
    income[rng.random(n) < 0.1] = np.nan
    city = np.where(group == 1, "north", rng.choice(["south", "east"], n)).astype(object)
    city[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "member": rng.random(n) < 0.3 + 0.4 * group,
            "city": pd.Series(city, dtype="str"),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n), categories=["S", "M", "L"]),
        }
    )


def adult_path(split: str = "train") -> Path:
    return SHARED_DATA / f"adult_{split}.csv"


requires_adult = pytest.mark.skipif(not adult_path().exists(), reason="../shared/data not present")
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

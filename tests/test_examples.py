"""Smoke tests of the scripts in examples/: each runs end to end with --quick settings
and writes or prints what its docstring promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.select_dtypes("number").to_numpy(dtype=np.float64)


@pytest.mark.parametrize(
    "name", ["synthetic_table", "compare_images", "anomaly_detection", "augmentation"]
)
def test_example_has_a_docstring_that_says_how_to_run_it(name):
    module = load_example(name)
    assert module.__doc__ and f"python examples/{name}.py" in module.__doc__
    assert "--out" in module.__doc__


def test_synthetic_table(tmp_path, capsys):
    assert load_example("synthetic_table").main(["--quick", "--out", str(tmp_path)]) == 0
    real_columns = ["age", "income", "tenure", "member", "region", "plan"]
    for name in ("vaegan", "gmm"):
        synthetic = pd.read_csv(tmp_path / f"synthetic_{name}.csv")
        assert len(synthetic) == 300  # the training rows of --quick's 400
        assert list(synthetic.columns) == real_columns
    scores = pd.read_csv(tmp_path / "scores.csv", index_col="metric")
    assert np.isfinite(scores[["vaegan", "gmm"]].to_numpy()).all()
    assert 0.0 <= scores.loc["detection_auc", "vaegan"] <= 1.0
    printed = capsys.readouterr().out
    assert "overall_quality" in printed and "dcr_ratio" in printed


def test_compare_images(tmp_path, capsys):
    assert load_example("compare_images").main(["--quick", "--out", str(tmp_path)]) == 0
    report = tmp_path / "report.html"
    assert report.stat().st_size > 1000
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert set(scores["estimator"]) == {"gmm", "vae", "vaegan", "real data"}
    assert {"frechet_distance", "coverage", "log_likelihood"} <= set(scores["metric"])
    assert np.isfinite(scores["value"]).all()
    assert str(report.resolve()) in capsys.readouterr().out


def test_anomaly_detection(tmp_path, capsys):
    assert load_example("anomaly_detection").main(["--quick", "--out", str(tmp_path)]) == 0
    scores = pd.read_csv(tmp_path / "anomaly_scores.csv")
    assert scores["kind"].value_counts().to_dict() == {
        "normal": 200,
        "unit error": 10,
        "mismatched": 10,
    }
    assert list(scores.columns[1:]) == ["GaussianMixture", "VAE", "IsolationForest"]
    assert np.isfinite(numbers(scores)).all()
    metrics = pd.read_csv(tmp_path / "anomaly_metrics.csv", index_col="metric")
    values = numbers(metrics)
    assert np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()
    assert "Best overall ROC AUC" in capsys.readouterr().out


def test_augmentation(tmp_path, capsys):
    main = load_example("augmentation").main
    assert main(["--quick", "--vae", "--out", str(tmp_path)]) == 0
    results = pd.read_csv(tmp_path / "augmentation_results.csv")
    # 2 seeds x 2 generators x 2 classifiers x 2 metrics
    assert len(results) == 16
    assert set(results["generator"]) == {"GaussianMixture", "VAE"}
    assert np.isfinite(numbers(results)).all()
    assert np.allclose(results["change"], results["real_plus_generated"] - results["real_only"])
    printed = capsys.readouterr().out
    assert "+/-" in printed and "mean_change" in printed

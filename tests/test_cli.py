"""The command line: generated options, help, files, errors, and a real round trip.

Most tests call ``hybridgen.cli.main(argv)`` in-process; one runs the installed
``hybridgen`` script for fit -> sample -> score.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import hybridgen
import hybridgen.compare
import hybridgen.demo
from hybridgen import Chunks, GaussianMixture, cli
from hybridgen._cli_options import _PARAM_DEST, _format_value, _given_params, _parameter_options
from hybridgen.base import bits_per_dim
from hybridgen.datasets import load_digits_images, make_mixed_table


# -- helpers --------------------------------------------------------------------------------------
def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def quick_params(name: str) -> dict[str, Any]:
    return {**cli.MODELS[name]._quick_params, "device": "cpu"}


def quick_args(name: str) -> list[str]:
    """The estimator's ``_quick_params`` as fit options."""
    flags = {option.name: option.flag for option in _parameter_options(cli.MODELS[name])}
    args: list[str] = []
    for key, value in quick_params(name).items():
        if isinstance(value, bool):
            args.append(("--" if value else "--no-") + flags[key][2:])
        else:
            args += [flags[key], _format_value(value)]
    return args


def fit_params(argv: list[str]) -> dict[str, Any]:
    args = cli._parse_fit(argv)
    assert args is not None
    return _given_params(args)


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hybridgen: error: "), err
    assert fragment in lines[0], err


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A mixed table as CSV and Parquet, 200 digit images as .npy, 300 more with their
    labels (.npy and a one-column CSV), and a GMM fitted on the CSV."""
    folder = tmp_path_factory.mktemp("cli")
    table = make_mixed_table(300, random_state=0)
    paths = {
        "csv": folder / "table.csv",
        "parquet": folder / "table.parquet",
        "images": folder / "images.npy",
        "digits": folder / "digits.npy",
        "labels": folder / "labels.npy",
        "labels_csv": folder / "labels.csv",
        "model": folder / "gmm.hg",
    }
    table.to_csv(paths["csv"], index=False)
    table.to_parquet(paths["parquet"], index=False)
    images, labels = load_digits_images()
    np.save(paths["images"], images[:200])
    np.save(paths["digits"], images[:300])
    np.save(paths["labels"], labels[:300])
    pd.DataFrame({"digit": labels[:300]}).to_csv(paths["labels_csv"], index=False)
    argv = ["fit", paths["csv"], "--model", "gmm", *quick_args("gmm"), "--seed", "0"]
    assert cli.main([str(a) for a in [*argv, "-o", paths["model"]]]) == 0
    return paths


# -- generated options ----------------------------------------------------------------------------
def test_models_cover_all_estimators():
    assert set(cli.MODELS.values()) == set(hybridgen.all_estimators())


@pytest.mark.parametrize("cls", hybridgen.all_estimators(), ids=lambda c: c.__name__)
def test_every_parameter_has_an_option_with_its_type_and_default(cls):
    name = {c: n for n, c in cli.MODELS.items()}[cls]
    parser = cli._fit_parser(name)
    actions = {action.dest: action for action in parser._actions}
    defaults = cls().get_params(deep=False)
    argv = ["data.csv", "--model", name, "-o", "m.hg"]
    for key, default in defaults.items():
        if key == "verbose":  # set by -v/--verbose
            assert "--verbose" in actions["verbose"].option_strings
            continue
        action = actions[_PARAM_DEST + key]
        flag = "--seed" if key == "random_state" else "--" + key.replace("_", "-")
        assert flag in action.option_strings
        assert f"(default: {_format_value(default)})" in (action.help or "")
        if isinstance(default, bool):
            assert isinstance(action, argparse.BooleanOptionalAction)
            argv.append(flag if default else "--no-" + flag[2:])
        else:
            argv += [flag, _format_value(default)]
    parsed = fit_params(argv)
    expected = {k: v for k, v in defaults.items() if k != "verbose"}
    assert parsed == expected
    assert {k: type(v) for k, v in parsed.items()} == {k: type(v) for k, v in expected.items()}


def test_option_values_are_typed():
    base = ["data.csv", "-o", "m.hg", "--model"]
    params = fit_params(
        [*base, "vaegan", "--epochs", "10", "--latent-dim", "8", "--hidden-dims", "64,64"]
        + ["--beta", "0.5", "--device", "cpu", "--no-training-by-sampling", "--seed", "3"]
        + ["--clip-grad-norm", "1.5"]
    )
    assert params == {
        "epochs": 10,
        "latent_dim": 8,
        "hidden_dims": (64, 64),
        "beta": 0.5,
        "device": "cpu",
        "training_by_sampling": False,
        "random_state": 3,
        "clip_grad_norm": 1.5,
    }
    assert fit_params([*base, "vae", "--clip-grad-norm", "none"]) == {"clip_grad_norm": None}
    params = fit_params([*base, "gmm", "--standardize", "false", "--weights-init", "0.3,0.7"])
    assert params == {"standardize": False, "weights_init": [0.3, 0.7]}
    assert fit_params([*base, "gmm", "--means-init", "0,1;2,3"]) == {
        "means_init": [[0.0, 1.0], [2.0, 3.0]]
    }


def test_compare_params_use_the_same_types_for_every_model():
    for cls in hybridgen.compare.MODELS.values():
        names = {option.name for option in _parameter_options(cls)}
        assert names == set(cls().get_params(deep=False))
    specs = ["vae.hidden_dims=8,8", "vae.early_stopping=true", "gmm.n_components=3"]
    specs += ["tvae.epochs=2", "sklearn-gmm.reg_covar=0.01"]
    names = ["gmm", "vae", "tvae", "sklearn-gmm"]
    assert cli._model_params(specs, names, hybridgen.compare.MODELS) == {
        "gmm": {"n_components": 3},
        "vae": {"hidden_dims": (8, 8), "early_stopping": True},
        "tvae": {"epochs": 2},
        "sklearn-gmm": {"reg_covar": 0.01},
    }


# -- help -----------------------------------------------------------------------------------------
def test_top_level_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in ("fit", "sample", "score", "compare", "demo"):
        assert re.search(rf"^  {command} +[a-z]", out, re.M), out
    assert "\nexamples:\n  hybridgen fit " in out
    code, out, _ = run(["--version"], capsys)
    assert (code, out.strip()) == (0, f"hybridgen {hybridgen.__version__}")


def test_fit_help_lists_the_chosen_models_options(capsys):
    code, out, _ = run(["fit", "--help"], capsys)
    assert code == 0
    assert "hybridgen fit --model MODEL --help" in out
    assert "--latent-dim" not in out
    code, out, _ = run(["fit", "--model", "vae", "--help"], capsys)
    assert code == 0
    assert "VAE options" in out
    assert "--latent-dim INT" in out and "(default: 128)" in out
    assert "--hidden-dims INT,..." in out and "--n-components" not in out
    code, out, _ = run(["fit", "--model", "gmm", "--help"], capsys)
    assert "--n-components INT" in out and "--covariance-type {diag,full,spherical,tied}" in out


@pytest.mark.parametrize("command", ["sample", "score", "compare"])
def test_command_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and out.startswith(f"usage: hybridgen {command}")


def test_python_dash_m(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m hybridgen", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("hybridgen", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hybridgen {hybridgen.__version__}"


# -- files ----------------------------------------------------------------------------------------
def test_parquet_in_and_out_with_a_vae(files, tmp_path, capsys):
    model = tmp_path / "vae.hg"
    code, _, err = run(
        ["fit", files["parquet"], "--model", "vae", *quick_args("vae"), "--seed", "0", "-o", model],
        capsys,
    )
    assert code == 0, err
    assert err.startswith("fitted VAE on 300 rows x 6 columns in ") and str(model) in err
    assert hybridgen.load(model).get_params()["hidden_dims"] == (16,)
    samples = tmp_path / "samples.parquet"
    code, _, err = run(["sample", model, "-n", 40, "-o", samples], capsys)
    assert code == 0, err
    drawn = pd.read_parquet(samples)
    real = pd.read_parquet(files["parquet"])
    assert drawn.shape == (40, 6) and list(drawn.columns) == list(real.columns)
    assert drawn["plan"].dtype == real["plan"].dtype  # the ordered Categorical survives
    per_row = tmp_path / "scores.parquet"
    code, out, err = run(["score", model, samples, "-o", per_row], capsys)
    assert code == 0, err
    assert out.startswith("mean log-likelihood: ") and "nats per row (40 rows)" in out
    scores = pd.read_parquet(per_row)["log_likelihood"]
    assert f"{scores.mean():.6g}" in out


def test_chunk_size_streams_the_table_through_the_mixture(files, tmp_path, capsys):
    """fit --chunk-size gives the model fit() gives on the same chunks; score
    --chunk-size gives the in-memory scores; other models refuse it."""
    model = tmp_path / "streamed.hg"
    argv = ["fit", files["parquet"], "--model", "gmm", *quick_args("gmm"), "--seed", "0"]
    code, _, err = run([*argv, "--chunk-size", 100, "-o", model], capsys)
    assert code == 0, err
    assert "on 300 rows read 100 at a time" in err
    expected = GaussianMixture(**quick_params("gmm"), random_state=0)
    expected.fit(Chunks(files["parquet"], chunk_size=100))
    streamed = hybridgen.load(model)
    np.testing.assert_allclose(streamed.means_, expected.means_, rtol=1e-10)
    code, chunked, err = run(["score", model, files["csv"], "--chunk-size", 70], capsys)
    assert code == 0, err
    code, whole, err = run(["score", model, files["csv"]], capsys)
    assert chunked == whole and "(300 rows)" in whole
    vae = ["fit", files["csv"], "--model", "vae", "--chunk-size", 100, "-o", tmp_path / "v.hg"]
    code, _, err = run(vae, capsys)
    assert code == 2
    assert_one_line_error(err, "--chunk-size streams DATA through the gmm model only")


def test_parquet_without_pyarrow_names_the_package(files, tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyarrow" else find_spec(name, *a),
    )
    code, _, err = run(["fit", files["parquet"], "--model", "gmm", "-o", tmp_path / "m.hg"], capsys)
    assert code == 1
    assert_one_line_error(err, "needs the 'pyarrow' package")
    code, _, err = run(["sample", files["model"], "-o", tmp_path / "s.parquet"], capsys)
    assert code == 1
    assert_one_line_error(err, "needs the 'pyarrow' package")


def test_score_per_row_to_stdout_and_images_in_bits_per_dim(files, tmp_path, capsys):
    code, out, err = run(["score", files["model"], files["csv"], "--per-row"], capsys)
    assert code == 0
    per_row = pd.read_csv(io.StringIO(out))
    assert list(per_row.columns) == ["log_likelihood"] and len(per_row) == 300
    assert err.startswith("mean log-likelihood: ")
    model = tmp_path / "images.hg"
    argv = ["fit", files["images"], "--model", "gmm", "--covariance-type", "diag", "-o", model]
    code, _, err = run([*argv, "--device", "cpu"], capsys)
    assert code == 0 and "200 images of shape (8, 8)" in err
    code, out, _ = run(["score", model, files["images"]], capsys)
    images = np.load(files["images"])
    mean = hybridgen.load(model).score(images)
    assert code == 0
    assert f"{mean:.6g} nats per row" in out
    assert f"{float(bits_per_dim(mean, 64)):.6g} bits/dim" in out
    code, _, err = run(["sample", model, "-n", 3], capsys)
    assert code == 2
    assert_one_line_error(err, "pass -o FILE.npy")
    code, _, _ = run(["sample", model, "-n", 3, "-o", tmp_path / "s.npy"], capsys)
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (3, 8, 8)


def test_seed_makes_sample_reproducible(files, capsys):
    draws = [
        run(["sample", files["model"], "-n", 20, "--seed", seed], capsys)[1] for seed in (5, 5, 6)
    ]
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]
    assert len(pd.read_csv(io.StringIO(draws[0]))) == 20


def test_sample_where_conditions(files, tmp_path, capsys):
    argv = ["sample", files["model"], "-n", 30, "--seed", 0, "--where", "region=north"]
    code, out, _ = run([*argv, "--where", "age=30..40", "--where", "member=True"], capsys)
    drawn = pd.read_csv(io.StringIO(out))
    assert code == 0 and len(drawn) == 30
    assert (drawn["region"] == "north").all() and drawn["age"].between(30, 40).all()
    assert drawn["member"].all()
    code, _, err = run([*argv, "--where", "age=old"], capsys)
    assert code == 2
    assert_one_line_error(err, "column 'age' is numeric")
    code, _, err = run([*argv, "--where", "planet=mars"], capsys)
    assert_one_line_error(err, "one of the fitted columns")
    code, _, err = run([*argv[:-2], "--where", "region=mars"], capsys)
    assert_one_line_error(err, "'mars'")


def test_sample_a_class_of_labelled_images(files, tmp_path, capsys):
    model = tmp_path / "labelled.hg"
    images, labels = np.load(files["digits"]), np.load(files["labels"])
    hybridgen.GaussianMixture(n_components=10, covariance_type="diag", random_state=0).fit(
        images, labels
    ).save(model)
    out = tmp_path / "sevens.npy"
    code, _, _ = run(["sample", model, "-n", 5, "--label", "7", "-o", out], capsys)
    assert code == 0 and np.load(out).shape == (5, 8, 8)
    code, _, err = run(["sample", files["model"], "--label", "7"], capsys)
    assert_one_line_error(err, "--label needs a model fitted on images with labels")


def test_verbose_logs_and_turns_on_progress(files, tmp_path, capsys):
    model = tmp_path / "m.hg"
    code, _, err = run(
        ["-v", "fit", files["csv"], "--model", "gmm", *quick_args("gmm"), "-o", model], capsys
    )
    assert code == 0
    assert f"hybridgen: reading {files['csv']}" in err
    assert hybridgen.load(model).get_params()["verbose"] is True


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (
            ["fit", "missing.csv", "--model", "gmm", "-o", "{tmp}/m.hg"],
            2,
            "'missing.csv' does not exist",
        ),
        (["fit", "{csv}", "--model", "xyz", "-o", "{tmp}/m.hg"], 2, "invalid choice: 'xyz'"),
        (
            ["fit", "{csv}", "--model", "vae", "--epochs", "0", "-o", "{tmp}/m.hg"],
            2,
            "The 'epochs' parameter of VAE must be an int in the range [1, inf). Got 0 instead.",
        ),
        (
            ["fit", "{csv}", "--model", "vae", "--epochs", "x", "-o", "{tmp}/m.hg"],
            2,
            "argument --epochs: expected an int, got 'x'",
        ),
        (
            ["fit", "{csv}", "--model", "gmm", "--epochs", "3", "-o", "{tmp}/m.hg"],
            2,
            "unrecognized arguments: --epochs 3",
        ),
        (["fit", "{txt}", "--model", "gmm", "-o", "{tmp}/m.hg"], 2, "unsupported extension"),
        (["fit", "{csv}", "--model", "gmm"], 2, "required: -o/--output"),
        (["fit", "{csv}", "-o", "{tmp}/m.hg"], 2, "required: --model"),
        (["fit", "{bad}", "--model", "gmm", "-o", "{tmp}/m.hg"], 1, "cannot read"),
        (["sample", "{model}", "-o", "{tmp}/s.xlsx"], 2, "unsupported extension"),
        (
            ["sample", "{model}", "-n", "0"],
            2,
            "The 'n_samples' parameter of GaussianMixture.sample",
        ),
        (["sample", "missing.hg"], 2, "'missing.hg' does not exist"),
        (["sample", "{csv}"], 1, "is not a hybridgen model file"),
        (["score", "{model}", "{images}"], 1, "DataFrame"),
        (["compare", "{csv}", "--models", "gmm,nope"], 2, "unknown model 'nope'"),
        (["compare", "{csv}", "--models", "gmm", "--param", "vae.epochs=2"], 2, "not in --models"),
        (
            ["compare", "{csv}", "--models", "gmm", "--param", "gmm.epochs=2"],
            2,
            "no parameter 'epochs'",
        ),
        (
            ["compare", "{images}", "--models", "gmm", "--labels", "{labels}"],
            1,
            "labels.npy' has 300 labels but DATA has 200 images",
        ),
        (
            ["compare", "{digits}", "--models", "gmm", "--labels", "{csv}"],
            1,
            "must have one column of labels; it has 6",
        ),
        (
            ["compare", "{digits}", "--models", "gmm", "--labels", "missing.npy"],
            2,
            "--labels file 'missing.npy' does not exist",
        ),
        (
            ["compare", "{csv}", "--models", "gmm", "--labels", "{labels}"],
            2,
            "labels are for images",
        ),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(argv, code, fragment, files, tmp_path, capsys):
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    (tmp_path / "bad.csv").write_text('a,b\n1,2,3,4\n"x')
    names = {
        "tmp": tmp_path,
        "txt": tmp_path / "data.txt",
        "bad": tmp_path / "bad.csv",
        **files,
    }
    got, _, err = run([a.format(**names) for a in argv], capsys)
    assert got == code, err
    assert_one_line_error(err, fragment)
    assert "Traceback" not in err


# -- compare and demo -----------------------------------------------------------------------------
def test_compare_calls_compare_with_the_options(files, tmp_path, monkeypatch, capsys):
    calls: list[tuple[Any, Any, dict[str, Any]]] = []

    def fake_compare(estimators, data, **kwargs):
        calls.append((estimators, data, kwargs))
        return pd.DataFrame(
            {
                "estimator": ["real data", "gmm", "vae", "gmm", "vae"],
                "metric": [
                    "column_shapes",
                    "column_shapes",
                    "column_shapes",
                    "fit_seconds",
                    "fit_seconds",
                ],
                "value": [0.9, 0.8, 0.7, 1.5, 2.5],
                "group": ["fidelity"] * 3 + ["time"] * 2,
                "best": ["higher"] * 3 + ["lower"] * 2,
            }
        )

    monkeypatch.setattr(hybridgen.compare, "compare", fake_compare)
    scores, report = tmp_path / "scores.csv", tmp_path / "report"
    argv = ["compare", files["csv"], "--models", "gmm,vae", "--param", "vae.epochs=3"]
    argv += [
        "--param",
        "vae.hidden_dims=8,8",
        "--param",
        "gmm.n_components=2",
        "--target",
        "member",
    ]
    argv += [
        "--test-size",
        "0.3",
        "--n-samples",
        "50",
        "--seed",
        "4",
        "--report",
        report,
        "-o",
        scores,
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    ((estimators, data, kwargs),) = calls
    assert list(estimators) == ["gmm", "vae"]
    assert isinstance(estimators["vae"], hybridgen.VAE) and isinstance(
        estimators["gmm"], hybridgen.GaussianMixture
    )
    assert estimators["vae"].epochs == 3 and estimators["vae"].hidden_dims == (8, 8)
    assert estimators["gmm"].n_components == 2
    assert isinstance(data, pd.DataFrame) and data.shape == (300, 6)
    assert kwargs == {
        "test_data": None,
        "test_size": 0.3,
        "target": "member",
        "labels": None,
        "n_samples": 50,
        "random_state": 4,
        "report": str(report),
        "verbose": False,
    }
    lines = out.splitlines()
    assert lines[0].split() == ["best", "gmm", "vae", "real", "data"]
    assert lines[-2].split() == ["column_shapes", "higher", "0.8", "0.7", "0.9"]
    assert lines[-1].split() == ["fit_seconds", "lower", "1.5", "2.5", "-"]
    assert pd.read_csv(scores).shape == (5, 5)
    assert f"report: {report}" in err

    code, _, err = run(
        ["compare", files["csv"], "--models", "gmm", "--test", files["parquet"]], capsys
    )
    assert code == 0, err
    assert isinstance(calls[-1][2]["test_data"], pd.DataFrame) and calls[-1][2]["test_size"] == 0.25


@pytest.mark.parametrize("labels", ["labels", "labels_csv"])
def test_compare_passes_image_labels(labels, files, monkeypatch, capsys):
    calls: list[dict[str, Any]] = []

    def fake_compare(estimators, data, **kwargs):
        calls.append(kwargs)
        return pd.DataFrame(
            {
                "estimator": ["gmm"],
                "metric": ["fit_seconds"],
                "value": [1.0],
                "group": ["time"],
                "best": ["lower"],
            }
        )

    monkeypatch.setattr(hybridgen.compare, "compare", fake_compare)
    code, _, err = run(
        ["compare", files["digits"], "--models", "gmm", "--labels", files[labels]], capsys
    )
    assert code == 0, err
    (kwargs,) = calls
    np.testing.assert_array_equal(kwargs["labels"], load_digits_images()[1][:300])
    assert kwargs["target"] is None


def test_compare_images_with_labels_end_to_end(files, capsys):
    argv = ["compare", files["digits"], "--models", "gmm", "--param", "gmm.n_components=2"]
    code, out, err = run([*argv, "--labels", files["labels"]], capsys)
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    for metric in ("frechet_distance", "precision", "recall", "density", "coverage"):
        assert len(rows[metric]) == 3, out  # real data, gmm, best
    assert "bits_per_dim" in rows, out


def test_compare_end_to_end(files, capsys):
    params = [
        f"--param=gmm.{key}={_format_value(value)}" for key, value in quick_params("gmm").items()
    ]
    code, out, err = run(["compare", files["csv"], "--models", "gmm", *params], capsys)
    assert code == 0, err
    assert out.split("\n")[0].split() == ["best", "gmm", "real", "data"]
    assert "log_likelihood" in out and "column_shapes" in out


def test_demo_gets_its_arguments(monkeypatch, capsys):
    seen: list[Any] = []
    monkeypatch.setattr(hybridgen.demo, "main", lambda argv=None: seen.append(argv) or 3)
    assert cli.main(["demo", "--quick"]) == 3
    assert seen == [["--quick"]]
    monkeypatch.setattr(hybridgen.demo, "main", lambda: seen.append("no argv"))
    assert cli.main(["demo"]) == 0 and seen[-1] == "no argv"
    code, _, err = run(["demo", "--quick"], capsys)
    assert code == 2
    assert_one_line_error(err, "takes no arguments")


# -- the installed script -------------------------------------------------------------------------
def test_installed_script_round_trip(tmp_path):
    script = Path(sys.executable).with_name("hybridgen")
    if not script.exists():
        pytest.skip("the hybridgen script is not installed (pip install -e .)")
    make_mixed_table(300, random_state=0).to_csv(tmp_path / "table.csv", index=False)
    env = {**os.environ, "PYTHONWARNINGS": "error"}

    def hybridgen_(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done

    fitted = hybridgen_(
        "fit",
        "table.csv",
        "--model",
        "gmm",
        "--n-components",
        "3",
        "--device",
        "cpu",
        "-o",
        "model.hg",
    )
    assert fitted.stderr.startswith("fitted GaussianMixture on 300 rows x 6 columns in ")
    assert fitted.stderr.rstrip().endswith("saved to model.hg")
    sampled = hybridgen_("sample", "model.hg", "-n", "100", "--seed", "0")
    samples = pd.read_csv(io.StringIO(sampled.stdout))
    assert samples.shape == (100, 6)
    assert list(samples.columns) == list(pd.read_csv(tmp_path / "table.csv").columns)
    (tmp_path / "samples.csv").write_text(sampled.stdout)
    scored = hybridgen_("score", "model.hg", "samples.csv")
    assert scored.stdout.startswith("mean log-likelihood: ")
    expected = hybridgen.load(tmp_path / "model.hg").score(samples)
    assert f"{expected:.6g} nats per row (100 rows)" in scored.stdout
    compared = hybridgen_(
        "compare",
        "table.csv",
        "--models",
        "gmm,sklearn-gmm",
        "--param",
        "gmm.n_components=2",
        "--param",
        "sklearn-gmm.n_components=2",
        "--target",
        "member",
        "--report",
        "report",
        "-o",
        "scores.csv",
    )
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert {"gmm", "sklearn-gmm", "real data"} <= set(scores["estimator"])
    assert "hgb_f1" in set(scores["metric"])
    assert (tmp_path / "report" / "report.html").exists()
    assert "report.html" in compared.stdout + compared.stderr

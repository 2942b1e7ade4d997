"""Conditional generation and augmentation (issue 6): fidelity, speed and downstream gain.

Three parts, each written to its own section of RESULTS.md:

fidelity
    Fit on Adult train. For each condition (each ``income`` class, each ``sex``, and
    ``age`` between 30 and 40) draw as many rows as the real test split has under it,
    and score the other columns' shapes (SDMetrics column-shape score,
    :func:`hybridgen.metrics.column_shapes`) against the real test rows meeting the
    condition. Beside each model: the real train rows under the condition (the
    ceiling), and the model's *unconditional* rows (what ignoring the condition gives).
    The neural models are fitted with ``condition_columns=["income", "sex", "age"]``;
    the mixture conditions on any column exactly.
speed
    100,000 rows with and without conditions, each model, best of 3: a dict on one
    column, a range, a per-row DataFrame of conditions, and (neural models) a column
    outside ``condition_columns`` (rejection fallback).
augment
    Adult: 500 labelled train rows (a new random subset per seed); HistGradientBoosting
    on real only vs real plus rows from :func:`hybridgen.augment` (balancing the
    classes), F1 of ">50K" and ROC AUC on the full test split. MNIST: 100 images per
    class; logistic regression on pixels, real only vs real plus 100 generated images
    per class; accuracy on the 10,000 test images. 5 seeds; mean change and its
    standard deviation over seeds.

    python benchmarks/bench_conditional.py --parts fidelity,speed,augment-adult,augment-mnist
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _results import write_section
from sklearn.linear_model import LogisticRegression

import hybridgen
from hybridgen.datasets import load_adult, load_mnist
from hybridgen.metrics import column_shapes, ml_utility

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONDITION_COLUMNS = ["income", "sex", "age"]


def adult(split: str) -> pd.DataFrame:
    return load_adult(DATA / f"adult_{split}.csv", split=split)


def table_models(epochs: int, seed: int, condition_columns: list[str] | None) -> dict[str, Any]:
    neural = {"epochs": epochs, "batch_size": 500, "device": "cpu", "random_state": seed}
    return {
        "gmm": hybridgen.GaussianMixture(n_components=20, max_iter=200, random_state=seed),
        "vae": hybridgen.VAE(beta=0.5, condition_columns=condition_columns, **neural),
        "vaegan": hybridgen.VAEGAN(condition_columns=condition_columns, **neural),
    }


def conditions_of(test: pd.DataFrame) -> dict[str, tuple[dict[str, Any], pd.Series]]:
    """Each condition, and the test rows meeting it."""
    found: dict[str, tuple[dict[str, Any], pd.Series]] = {}
    for column in ("income", "sex"):
        for value in sorted(test[column].unique()):
            found[f"{column} = {value}"] = ({column: value}, test[column] == value)
    found["30 <= age <= 40"] = ({"age": (30, 40)}, test["age"].between(30, 40))
    return found


def shapes(real: pd.DataFrame, synthetic: pd.DataFrame, skip: str) -> float:
    others = [c for c in real.columns if c != skip]
    return float(column_shapes(real[others], synthetic[others]).mean())


def fidelity(epochs: int) -> str:
    train, test = adult("train"), adult("test")
    conditions = conditions_of(test)
    rows: dict[str, dict[str, float]] = {"real train rows (ceiling)": {}}
    for name, (condition, mask) in conditions.items():
        column = next(iter(condition))
        real_train = train[_meets(train, condition)]
        rows["real train rows (ceiling)"][name] = shapes(test[mask], real_train, column)
    fit_seconds: dict[str, float] = {}
    for model_name, model in table_models(epochs, 0, CONDITION_COLUMNS).items():
        start = time.perf_counter()
        model.fit(train)
        fit_seconds[model_name] = time.perf_counter() - start
        unconditional = model.sample(len(test), random_state=1)
        for name, (condition, mask) in conditions.items():
            column = next(iter(condition))
            drawn = model.sample(int(mask.sum()), conditions=condition, random_state=1)
            assert _meets(drawn, condition).all(), (model_name, name)
            rows.setdefault(model_name, {})[name] = shapes(test[mask], drawn, column)
            rows.setdefault(f"{model_name}, unconditional", {})[name] = shapes(
                test[mask], unconditional, column
            )
        print(model_name, rows[model_name], f"fit {fit_seconds[model_name]:.0f} s", flush=True)
    table = pd.DataFrame(rows).T
    table["mean"] = table.mean(axis=1)
    lines = [
        "### Conditional fidelity on Adult (column-shape score of the other columns)",
        "",
        f"Fitted on the train split (neural models: {epochs} epochs, "
        f"`condition_columns={CONDITION_COLUMNS}`; mixture: 20 components); for each "
        "condition as many rows as the test split has under it, compared with those test "
        "rows. Every drawn row met its condition (checked).",
        "",
        "| rows | " + " | ".join(table.columns) + " |",
        "|---|" + "---|" * len(table.columns),
    ]
    for label, values in table.iterrows():
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines.append("")
    lines.append("Fit seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in fit_seconds.items()) + ".")
    return "\n".join(lines)


def _meets(frame: pd.DataFrame, condition: dict[str, Any]) -> pd.Series:
    ((column, value),) = condition.items()
    if isinstance(value, tuple):
        return frame[column].between(*value)
    return frame[column] == value


def speed(epochs: int, n: int = 100_000) -> str:
    train = adult("train")
    per_row = pd.DataFrame({"income": np.where(np.arange(n) % 4 == 0, ">50K", "<=50K")})
    cases = {
        "dict, one column": {"income": ">50K"},
        "range, one column": {"age": (30, 40)},
        "per-row DataFrame": per_row,
        "dict, column outside condition_columns": {"workclass": "Private"},
    }
    lines = [
        f"### Conditional sampling speed, {n:,} rows (best of 3, seconds)",
        "",
        "Ratio = conditional time / unconditional time, same model, same run. The last case "
        "is the rejection fallback of the neural models (``workclass`` is not a condition "
        "column; about 70% of rows meet it); the mixture conditions on it exactly.",
        "",
        "| model | unconditional | " + " | ".join(cases) + " |",
        "|---|---|" + "---|" * len(cases),
    ]
    for name, model in table_models(epochs, 0, CONDITION_COLUMNS).items():
        model.fit(train)
        base = _best_of(lambda m=model: m.sample(n, random_state=0))
        cells = []
        for conditions in cases.values():
            t = _best_of(lambda m=model, c=conditions: m.sample(n, random_state=0, conditions=c))
            cells.append(f"{t:.2f} ({t / base:.2f}x)")
        print(name, base, cells, flush=True)
        lines.append(f"| {name} | {base:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best_of(call: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def augment_adult(epochs: int, seeds: range, n_rows: int = 500) -> list[str]:
    train, test = adult("train"), adult("test")
    results: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        subset = train.sample(n_rows, random_state=seed).reset_index(drop=True)
        base = ml_utility(subset, test, "income", positive=">50K", random_state=seed)
        results.setdefault("real only", []).append((base["f1"], base["roc_auc"]))
        X, y = subset.drop(columns="income"), subset["income"].to_numpy()
        for name, model in table_models(epochs, seed, None).items():
            X_aug, y_aug = hybridgen.augment(model, X, y, random_state=seed)
            scores = ml_utility(
                X_aug.assign(income=y_aug), test, "income", positive=">50K", random_state=seed
            )
            results.setdefault(name, []).append((scores["f1"], scores["roc_auc"]))
        print("adult seed", seed, {k: v[-1] for k, v in results.items()}, flush=True)
    return _change_table(
        results,
        ("F1", "ROC AUC"),
        f"Adult, {n_rows} train rows, HistGradientBoosting on income, balanced with "
        f"`augment` (neural models {epochs} epochs, given the label as a condition column)",
    )


def augment_mnist(epochs: int, seeds: range, per_class: int = 100) -> list[str]:
    X_train, y_train, X_test, y_test = load_mnist(DATA / "mnist.npz")
    flat_test = X_test.reshape(len(X_test), -1) / 255.0
    results: dict[str, list[tuple[float]]] = {}
    neural = {"epochs": epochs, "batch_size": 100, "device": "cpu", "latent_dim": 16}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        index = np.concatenate(
            [rng.choice(np.flatnonzero(y_train == c), per_class, replace=False) for c in range(10)]
        )
        X, y = X_train[index], y_train[index]
        results.setdefault("real only", []).append((_accuracy(X, y, flat_test, y_test, seed),))
        models = {
            "gmm": hybridgen.GaussianMixture(
                n_components=20, covariance_type="diag", random_state=seed
            ),
            "vae": hybridgen.VAE(random_state=seed, **neural),
            "vaegan": hybridgen.VAEGAN(random_state=seed, **neural),
        }
        for name, model in models.items():
            X_aug, y_aug = hybridgen.augment(model, X, y, strategy=1.0, random_state=seed)
            results.setdefault(name, []).append((_accuracy(X_aug, y_aug, flat_test, y_test, seed),))
        print("mnist seed", seed, {k: v[-1] for k, v in results.items()}, flush=True)
    return _change_table(
        results,
        ("accuracy",),
        f"MNIST, {per_class} images per class plus as many generated per class "
        f"(`strategy=1.0`), logistic regression on pixels (neural models {epochs} epochs, "
        "fitted with the labels)",
    )


def _accuracy(
    X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, seed: int
) -> float:
    model = LogisticRegression(C=0.05, max_iter=300, random_state=seed)
    model.fit(X.reshape(len(X), -1) / 255.0, y)
    return float((model.predict(X_test) == y_test).mean())


def _change_table(
    results: dict[str, list[tuple[float, ...]]], metrics: tuple[str, ...], title: str
) -> list[str]:
    real = np.array(results["real only"])
    lines = [
        f"### Augmentation: {title}",
        "",
        "| training data | "
        + " | ".join(f"{m} (mean ± sd) | change in {m} (mean ± sd)" for m in metrics)
        + " |",
        "|---|" + "---|---|" * len(metrics),
    ]
    for name, values in results.items():
        v = np.array(values)
        cells = []
        for j in range(len(metrics)):
            diff = v[:, j] - real[:, j]
            change = "-" if name == "real only" else f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}"
            cells += [f"{v[:, j].mean():.3f} ± {v[:, j].std(ddof=1):.3f}", change]
        label = name if name == "real only" else f"real + {name}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="fidelity,speed,augment-adult,augment-mnist")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--augment-epochs", type=int, default=300)
    parser.add_argument("--mnist-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    parts = args.parts.split(",")
    command = f"python benchmarks/bench_conditional.py --parts {{}} --epochs {args.epochs}"
    if "fidelity" in parts:
        body = fidelity(args.epochs)
        print(body)
        write_section("conditional-fidelity", body, command=command.format("fidelity"))
    if "speed" in parts:
        body = speed(args.epochs)
        print(body)
        write_section("conditional-speed", body, command=command.format("speed"))
    augmentations = {
        "augment-adult": (augment_adult, "--augment-epochs", args.augment_epochs),
        "augment-mnist": (augment_mnist, "--mnist-epochs", args.mnist_epochs),
    }
    for part, (run, flag, epochs) in augmentations.items():
        if part in parts:
            body = "\n".join(run(epochs, range(args.seeds)))
            print(body)
            write_section(
                part.replace("augment-", "augmentation-"),
                body,
                command=f"python benchmarks/bench_conditional.py --parts {part} "
                f"{flag} {epochs} --seeds {args.seeds}",
            )


if __name__ == "__main__":
    main()

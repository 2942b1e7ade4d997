"""Augment a small labelled training set with generated rows, one model per class.

What it shows
    With only 200 labelled rows, can generated rows help a classifier? For each class
    we fit a generative model on that class's training rows alone, draw as many new
    rows as the class has (``--ratio``), and label them with the class they came
    from. A classifier is then trained twice, on the real rows only and on the real
    plus generated rows, and tested on the same held-out real rows. This is repeated
    over 5 seeds (a new training sample each time) and the mean change of the test
    macro F1 and ROC AUC is printed with its standard deviation, whatever its sign.

    The classifiers are scikit-learn's HistGradientBoostingClassifier and
    LogisticRegression, as prepared by :func:`hybridgen.metrics.ml_utility` (it
    one-hot encodes and imputes for the linear model, and passes categories to the
    boosting model); call your own classifier in ``test_scores`` if you prefer.

    ``hybridgen.augment`` (one conditional model that generates rows of a chosen
    class) is planned. Until it exists, one model per class, as here, is the way to
    do it; it costs one fit per class and cannot share what classes have in common.

Data (all built in, no download):

    --data mixed           hybridgen's customer table (int, float with missing
                           values, bool, str, categorical); target ``plan`` (3 classes)
    --data breast-cancer   scikit-learn's breast cancer data; 30 numeric columns, 2 classes
    --data wine            scikit-learn's wine data; 13 numeric columns, 3 classes
                           (178 rows in all, so 89 training rows)
    --adult PATH           the UCI Adult CSV; target ``income`` (2 classes)

How to run it (about 10 s on two CPU cores with the GaussianMixture; ``--vae`` adds
a VAE per class and about 80 s)::

    python examples/augmentation.py
    python examples/augmentation.py --data breast-cancer --ratio 2
    python examples/augmentation.py --vae --out results
    python examples/augmentation.py --quick          # seconds, a smoke test

Files: ``augmentation_results.csv`` (one row per seed, generator and classifier)
is written into ``--out`` (default ``./augmentation_output``, created if missing).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

from hybridgen import VAE, GaussianMixture, metrics
from hybridgen.datasets import load_adult, make_mixed_table

CLASSIFIERS = ("hgb", "logreg")  # HistGradientBoosting, LogisticRegression


def load_data(name: str, adult: Path | None) -> tuple[pd.DataFrame, str, int]:
    """The labelled table, its target column and the number of training rows to use."""
    if adult is not None:
        frame = load_adult(adult).drop(columns="split", errors="ignore")
        return frame.sample(n=min(len(frame), 5000), random_state=0), "income", 200
    if name == "mixed":
        return make_mixed_table(3000, random_state=0), "plan", 200
    loader = {"breast-cancer": load_breast_cancer, "wine": load_wine}[name]
    frame = loader(as_frame=True).frame
    # A class label, not a number: the target is categorical.
    frame["target"] = frame["target"].map(lambda v: f"class_{v}")
    return frame, "target", min(200, len(frame) // 2)


def generate_per_class(
    train: pd.DataFrame,
    target: str,
    make_model: Callable[[int], object],
    ratio: float,
    seed: int,
) -> pd.DataFrame:
    """Fit one model per class on that class's rows; draw ``ratio`` times as many rows."""
    parts = []
    for label, rows in train.groupby(target, observed=True):
        model = make_model(seed)
        model.fit(rows.drop(columns=target))  # the label is constant within a class
        drawn = model.sample(max(1, round(ratio * len(rows))), random_state=seed)
        drawn[target] = label
        parts.append(drawn)
    generated = pd.concat(parts, ignore_index=True)
    # Same dtype as the real label (e.g. the ordered Categorical of `plan`).
    return generated.astype({target: train[target].dtype})


def test_scores(train: pd.DataFrame, test: pd.DataFrame, target: str, seed: int) -> dict:
    """Macro F1 and ROC AUC on the real test rows, per classifier, after training on ``train``."""
    scores = {}
    for classifier in CLASSIFIERS:
        found = metrics.ml_utility(train, test, target, model=classifier, random_state=seed)
        scores[classifier] = found
    return scores


def main(argv: list[str] | None = None) -> int:
    """Run the experiment, print and save; returns 0. ``argv`` defaults to sys.argv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data",
        choices=["mixed", "breast-cancer", "wine"],
        default="mixed",
        help="(default: mixed)",
    )
    parser.add_argument("--adult", type=Path, help="path of the UCI Adult CSV (overrides --data)")
    parser.add_argument(
        "--ratio", type=float, default=1.0, help="generated rows per real row (default: 1)"
    )
    parser.add_argument("--seeds", type=int, default=5, help="repetitions (default: 5)")
    parser.add_argument("--vae", action="store_true", help="also a VAE per class (slower)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("augmentation_output"),
        help="folder for the CSV file (default: ./augmentation_output)",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 VAE epochs: a smoke test")
    args = parser.parse_args(argv)
    n_seeds, vae_epochs = (2, 2) if args.quick else (args.seeds, 300)

    data, target, n_train = load_data(args.data, args.adult)
    print(f"{len(data)} labelled rows; target {target!r}: {data[target].value_counts().to_dict()}")
    print(f"each seed: {n_train} training rows, {len(data) - n_train} real test rows\n")

    generators: dict[str, Callable[[int], object]] = {
        # Two components per class: a class can hold more than one kind of row.
        "GaussianMixture": lambda seed: GaussianMixture(n_components=2, random_state=seed),
    }
    if args.vae:
        generators["VAE"] = lambda seed: VAE(
            epochs=vae_epochs, latent_dim=4, hidden_dims=(32, 32), batch_size=64, random_state=seed
        )

    records = []
    for seed in range(n_seeds):
        # A new stratified sample of training rows each time; the rest is the test set.
        train, test = train_test_split(
            data, train_size=n_train, stratify=data[target], random_state=seed
        )
        baseline = test_scores(train, test, target, seed)
        for name, make_model in generators.items():
            generated = generate_per_class(train, target, make_model, args.ratio, seed)
            augmented = pd.concat([train, generated], ignore_index=True)
            scores = test_scores(augmented, test, target, seed)
            for classifier in CLASSIFIERS:
                for metric in ("f1", "roc_auc"):
                    records.append(
                        {
                            "seed": seed,
                            "generator": name,
                            "classifier": classifier,
                            "metric": metric,
                            "real_only": baseline[classifier][metric],
                            "real_plus_generated": scores[classifier][metric],
                        }
                    )

    results = pd.DataFrame(records)
    results["change"] = results["real_plus_generated"] - results["real_only"]
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "augmentation_results.csv", index=False)

    summary = results.groupby(["generator", "classifier", "metric"]).agg(
        real_only=("real_only", "mean"),
        real_plus_generated=("real_plus_generated", "mean"),
        mean_change=("change", "mean"),
        sd_change=("change", "std"),
        seeds_improved=("change", lambda c: f"{int((c > 0).sum())}/{len(c)}"),
    )
    print(f"Test scores over {n_seeds} seeds (mean), and the change augmentation made:")
    print(
        summary.to_string(
            float_format="{:.4f}".format, formatters={"mean_change": "{:+.4f}".format}
        )
    )

    # The verdict follows the numbers: a change within one standard deviation of zero
    # is no evidence either way.
    print()
    for (generator, classifier, metric), row in summary.iterrows():
        change, sd = row["mean_change"], row["sd_change"]
        if np.isnan(sd) or abs(change) <= sd:
            verdict = "no clear effect"
        else:
            verdict = "helped" if change > 0 else "hurt"
        print(f"{generator} rows, {classifier} {metric}: {change:+.4f} +/- {sd:.4f} ({verdict})")
    print(f"\nPer-seed results written to {(args.out / 'augmentation_results.csv').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

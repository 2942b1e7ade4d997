"""Make a synthetic copy of a mixed table and check how good and how private it is.

What it shows
    Fitting a VAEGAN (and, as a fast baseline, a GaussianMixture) to a table with
    int, float (with missing values), bool, str and ordered categorical columns;
    drawing a synthetic table of the same size; and judging it with
    :mod:`hybridgen.metrics` against real rows:

    - ``quality_score``: do the columns and the pairs of columns look like the real
      ones (SDMetrics' QualityReport score, 1.0 is identical)?
    - ``ml_utility``: train a classifier on the synthetic rows, test it on real
      held-out rows (TSTR), next to the same classifier trained on the real training
      rows (the ceiling).
    - ``detection_auc``: can a classifier tell synthetic rows from real ones
      (0.5: it cannot, which is what we want)?
    - ``dcr_ratio``: privacy. Are synthetic rows closer to the training rows than
      real unseen rows are (about 1: no sign of copying; near 0: copies)?

How to run it (10 to 50 s on two CPU cores, by how busy they are)::

    python examples/synthetic_table.py                        # built-in table, 2,000 rows
    python examples/synthetic_table.py --adult adult.csv      # the UCI Adult CSV, 2,000 rows
    python examples/synthetic_table.py --rows 5000 --epochs 100 --out results
    python examples/synthetic_table.py --quick                # seconds, a smoke test

The Adult CSV is the one :func:`hybridgen.datasets.load_adult` reads (a header with
the 15 standard names; a ``split`` column, if present, is dropped); ``income`` is
the target. ``--rows`` rows are drawn from it at random.

Files: ``synthetic_vaegan.csv``, ``synthetic_gmm.csv`` and ``scores.csv`` are written
into ``--out`` (default ``./synthetic_table_output``, created if missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from hybridgen import VAEGAN, GaussianMixture, metrics
from hybridgen.datasets import load_adult, make_mixed_table


def load_table(adult: Path | None, rows: int, seed: int) -> tuple[pd.DataFrame, str]:
    """The real table and the name of its target column."""
    if adult is None:
        # Two hidden customer segments drive every column, so a model has to learn
        # how columns depend on each other, not only each column on its own.
        return make_mixed_table(rows, random_state=seed), "member"
    frame = load_adult(adult).drop(columns="split", errors="ignore")
    # '?' (unknown workclass, occupation, country) stays a category of its own.
    frame = frame.sample(n=min(rows, len(frame)), random_state=seed).reset_index(drop=True)
    return frame, "income"


def make_models(epochs: int, seed: int) -> dict[str, object]:
    """The two generators. Both take the DataFrame as it is: no encoding by hand."""
    return {
        "vaegan": VAEGAN(
            epochs=epochs,
            latent_dim=16,
            hidden_dims=(128, 128),
            discriminator_dims=(64, 64),
            batch_size=100,
            random_state=seed,
        ),
        # A latent-class model: 10 clusters, each with its own Gaussian over the
        # numeric columns and its own category frequencies. Fits in a second.
        "gmm": GaussianMixture(n_components=10, random_state=seed),
    }


def evaluate(
    rows: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    seed: int,
    *,
    real: bool = False,
) -> dict[str, float]:
    """Every measure of ``rows`` (synthetic, or with ``real`` the real test rows)."""
    quality = metrics.quality_score(train, rows)
    # Train on `rows`, test on real held-out rows. For the real reference, learn from
    # the real training rows instead: the best a synthetic table can hope for.
    utility = metrics.ml_utility(train if real else rows, test, target, random_state=seed)
    scores = {
        "overall_quality": quality["overall"],
        "column_shapes": quality["column_shapes"],
        "column_pair_trends": quality["column_pair_trends"],
        "detection_auc": metrics.detection_auc(train, rows, random_state=seed),
        f"utility_f1 ({target})": utility["f1"],
        f"utility_roc_auc ({target})": utility["roc_auc"],
        "dcr_ratio": np.nan,
        "exact_copy_rate": np.nan,
    }
    if not real:  # distances to the training rows mean nothing for the test rows themselves
        privacy = metrics.dcr_ratio(rows, train, test, random_state=seed)
        scores["dcr_ratio"] = privacy["ratio"]
        scores["exact_copy_rate"] = privacy["exact_copy_rate"]
    return scores


def main(argv: list[str] | None = None) -> int:
    """Fit, sample, measure, print and save; returns 0. ``argv`` defaults to sys.argv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--adult", type=Path, help="path of the UCI Adult CSV (optional)")
    parser.add_argument("--rows", type=int, default=2000, help="real rows used (default: 2000)")
    parser.add_argument("--epochs", type=int, default=25, help="VAEGAN epochs (default: 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("synthetic_table_output"),
        help="folder for the CSV files (default: ./synthetic_table_output)",
    )
    parser.add_argument("--quick", action="store_true", help="400 rows, 2 epochs: a smoke test")
    args = parser.parse_args(argv)
    rows, epochs = (400, 2) if args.quick else (args.rows, args.epochs)

    data, target = load_table(args.adult, rows, args.seed)
    # Hold out a quarter of the real rows: the models never see them, the metrics do.
    train, test = train_test_split(data, test_size=0.25, random_state=args.seed)
    print(f"real table: {len(train)} training rows, {len(test)} held-out rows")
    print(data.dtypes.astype(str).to_string(), "\n")

    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, model in make_models(epochs, args.seed).items():
        start = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - start
        # A synthetic copy of the same size, with the same columns and dtypes.
        synthetic = model.sample(len(train), random_state=args.seed)
        synthetic.to_csv(args.out / f"synthetic_{name}.csv", index=False)
        results[name] = evaluate(synthetic, train, test, target, args.seed)
        results[name]["fit_seconds"] = fit_seconds
        print(f"{name}: fitted in {fit_seconds:.1f} s; first synthetic rows:")
        print(synthetic.head(3).to_string(), "\n")
    results["real data"] = evaluate(test, train, test, target, args.seed, real=True)

    scores = pd.DataFrame(results)
    scores.insert(
        0, "best", ["higher"] * 3 + ["0.5"] + ["higher"] * 2 + ["about 1", "lower", "lower"]
    )
    scores.to_csv(args.out / "scores.csv", index_label="metric")
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(scores.to_string(na_rep="-"))
    print(
        "\n'real data' is the real held-out rows measured the same way: the reference a"
        "\nsynthetic table is compared with (its utility is the train-on-real ceiling)."
        f"\nSynthetic tables and scores written to {args.out.resolve()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

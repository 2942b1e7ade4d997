"""``make demo`` / ``hybridgen demo``: the three estimators compared on built-in data.

Fits GaussianMixture, VAE and VAEGAN (and scikit-learn's GaussianMixture as the
reference users know) on a built-in mixed table (int, float with missing values,
bool, str and ordered categorical columns) and on scikit-learn's 8x8 digits, with
:func:`hybridgen.compare.run_comparison`; prints the scores and writes one report
(Markdown, and HTML with the plots embedded). Needs no download; a few minutes on
two CPU cores.

    python -m hybridgen.demo [--report DIR] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import clone

import hybridgen
from hybridgen.adapters import SklearnGaussianMixture
from hybridgen.compare import Comparison, run_comparison, score_table
from hybridgen.datasets import load_digits_images, make_mixed_table
from hybridgen.report import write_report

#: the models and settings of the demo, per kind of data; two CPU cores fit all of them
#: in a few minutes
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "table": {
        "gmm": hybridgen.GaussianMixture(n_components=10),
        "sklearn-gmm": SklearnGaussianMixture(n_components=10),
        "vae": hybridgen.VAE(epochs=150, latent_dim=16, hidden_dims=(128, 128), batch_size=100),
        "vaegan": hybridgen.VAEGAN(
            epochs=150,
            latent_dim=16,
            hidden_dims=(128, 128),
            discriminator_dims=(64, 64),
            batch_size=100,
        ),
    },
    "image": {
        "gmm": hybridgen.GaussianMixture(n_components=10, covariance_type="diag"),
        "sklearn-gmm": SklearnGaussianMixture(n_components=10, covariance_type="diag"),
        "vae": hybridgen.VAE(epochs=60, latent_dim=16, batch_size=64),
        "vaegan": hybridgen.VAEGAN(epochs=60, latent_dim=16, batch_size=64),
    },
}
#: ``--quick``: the same models for a few epochs (used by the tests)
QUICK_EPOCHS = 2


def _models(kind: str, quick: bool) -> dict[str, Any]:
    models = {}
    for name, model in DEMO_MODELS[kind].items():
        models[name] = clone(model)
        if quick and "epochs" in model.get_params():
            models[name].set_params(epochs=QUICK_EPOCHS)
    return models


def _print_scores(title: str, comparison: Comparison) -> None:
    table = score_table(comparison.scores)
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(f"\n{title}\n{table.to_string(na_rep='-')}")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0. ``argv`` defaults to the command line."""
    parser = argparse.ArgumentParser(
        prog="hybridgen demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("hybridgen-demo-report"),
        help="folder to write the report into (default: ./hybridgen-demo-report)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs per neural model"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    table = make_mixed_table(2000, random_state=0)
    images, labels = load_digits_images()
    print(f"hybridgen {hybridgen.__version__}: built-in data, no download")
    print(
        f"  table  {len(table)} rows: "
        + ", ".join(f"{c} ({t})" for c, t in table.dtypes.astype(str).items())
    )
    print(f"  images {images.shape} {images.dtype} (scikit-learn's 8x8 digits) and their labels")
    sections = {
        "Mixed table (predicting member)": run_comparison(
            _models("table", args.quick), table, target="member", verbose=True
        ),
        "8x8 digits": run_comparison(
            _models("image", args.quick), images, labels=labels, verbose=True
        ),
    }
    for title, comparison in sections.items():
        _print_scores(title, comparison)
    path = write_report(sections, args.report)
    print(f"\nReport written to {path.resolve()} ({time.perf_counter() - start:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

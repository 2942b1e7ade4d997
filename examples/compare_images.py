"""Compare GaussianMixture, VAE and VAEGAN on scikit-learn's 8x8 handwritten digits.

What it shows
    :func:`hybridgen.compare.compare` fits every model on the same training images
    with the same seed, times it, draws as many images as there are training images,
    and measures them: the held-out log-likelihood (nats per image and bits per
    dimension) and, because we pass the class ``labels``, the Frechet distance,
    precision, recall, density and coverage in the feature space of a small CNN that
    is trained on the real training images (no downloaded weights). ``report=DIR``
    also writes ``report.md`` and a self-contained ``report.html`` with sample grids
    and training curves. In the grids the VAE's images look grainy: its ``sample``
    draws each pixel from the likelihood, noise included, while the VAEGAN returns
    its decoder's mean images, as in Larsen et al. (2016).

How to run it (about 35 s on two CPU cores; the digits ship with scikit-learn)::

    python examples/compare_images.py                  # report in ./compare_images_report
    python examples/compare_images.py --out /tmp/digits --epochs 50
    python examples/compare_images.py --quick          # 2 epochs, a smoke test

Files: the report and ``scores.csv`` (the tidy scores) go into ``--out`` (default
``./compare_images_report``). The feature CNN is cached by
:func:`hybridgen.metrics.cached_image_features` under ``~/.cache/hybridgen/features``
(set the ``HYBRIDGEN_DATA`` environment variable to put that cache elsewhere), so a
second run skips training it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from hybridgen import VAE, VAEGAN, GaussianMixture
from hybridgen.compare import compare, score_table
from hybridgen.datasets import load_digits_images

#: rows of the printed table, in the order a reader wants them
METRICS = [
    "log_likelihood",
    "bits_per_dim",
    "frechet_distance",
    "precision",
    "recall",
    "density",
    "coverage",
    "fit_seconds",
    "sample_seconds",
]


def make_models(epochs: int) -> dict[str, object]:
    """The three models, sized for 1,347 tiny images on a laptop CPU."""
    return {
        # 10 diagonal Gaussians: one per digit, if EM finds them. Fast, a fair baseline.
        "gmm": GaussianMixture(n_components=10, covariance_type="diag"),
        # A convolutional VAE (architecture="auto" picks conv nets for images).
        "vae": VAE(epochs=epochs, latent_dim=16, batch_size=64),
        # The same VAE plus a DCGAN-style discriminator; about twice as slow per epoch.
        "vaegan": VAEGAN(epochs=epochs, latent_dim=16, batch_size=64),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns 0. ``argv`` defaults to the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("compare_images_report"),
        help="folder for report.md, report.html and the plots (default: ./compare_images_report)",
    )
    parser.add_argument(
        "--epochs", type=int, default=20, help="epochs of the VAE and the VAEGAN (default: 20)"
    )
    parser.add_argument("--quick", action="store_true", help="2 epochs: a smoke test")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else args.epochs

    # 1,797 grey-level images of shape (8, 8), uint8 in 0..255, and their digit labels.
    images, labels = load_digits_images()
    print(f"digits: {images.shape} {images.dtype}, labels 0-9")

    start = time.perf_counter()
    # compare() holds out 25% of the images (test_size), fits each model on the rest,
    # and adds a "real data" column: the same measures for real held-out images, the
    # ceiling a model can reach. Labels only train the feature CNN; the generative
    # models never see them.
    scores = compare(
        make_models(epochs),
        images,
        labels=labels,
        random_state=0,
        report=args.out,
    )
    seconds = time.perf_counter() - start

    # The result is tidy: one row per (estimator, metric). Pivot it for reading.
    table = score_table(scores)
    table = table.loc[[m for m in METRICS if m in table.index]]
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(table.to_string(na_rep="-"))

    print(
        "\nReading it: log_likelihood is nats per held-out image (higher is better; the"
        "\n'real data' column has none, as real images have no model). The feature-space"
        "\nmetrics compare samples with real held-out images; the 'real data' column is"
        "\nreal training images against them, the ceiling."
    )
    # The tidy scores, for your own plots or for comparing runs.
    scores.to_csv(args.out / "scores.csv", index=False)
    print(f"\n{seconds:.0f} s. Report: {(args.out / 'report.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

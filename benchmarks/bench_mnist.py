"""MNIST: held-out negative log-likelihood of the VAE and of GaussianMixture, and sample grids.

Two settings, both on ``mnist.npz`` (60,000 train / 10,000 test images):

* binarised MNIST (pixel > 127 -> 255, a fixed threshold, not dynamic binarisation):
  VAE with Bernoulli pixels; NLL is -log P(x) of the binary image, estimated with the
  importance-weighted bound (``n_importance`` samples), in nats and bits/dim.
* grey-level MNIST (uint8): VAE with discretised-logistic pixels (a probability of each
  of the 256 levels) beside GaussianMixture fitted on uniformly dequantised pixels
  ``(x + u) / 256``; for the mixture, ``E_u[log p((x + u) / 256)] - D log 256`` is a lower
  bound on log P(x) of the discrete image (Jensen), so both are bounds on the same
  quantity and comparable.

    python benchmarks/bench_mnist.py                 # CPU defaults (MLP VAE, 20 epochs)
    python benchmarks/bench_mnist.py --device cuda --architecture conv --epochs 50
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from _results import write_section

from hybridgen import VAE, GaussianMixture, bits_per_dim
from hybridgen.datasets import load_mnist

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "data" / "mnist.npz"


def save_grid(images: dict[str, np.ndarray], path: Path, n: int = 64) -> None:
    """One PNG with an 8x8 grid per named set of (N, 28, 28) uint8 images, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.4))
    for ax, (title, imgs) in zip(np.atleast_1d(axes), images.items(), strict=True):
        side = int(math.sqrt(n))
        tiles = (
            imgs[:n].reshape(side, side, 28, 28).transpose(0, 2, 1, 3).reshape(side * 28, side * 28)
        )
        ax.imshow(tiles, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def fit_vae(train: np.ndarray, args: argparse.Namespace) -> tuple[VAE, float]:
    vae = VAE(
        latent_dim=32,
        hidden_dims=(512, 256),
        architecture=args.architecture,
        epochs=args.epochs,
        batch_size=128,
        n_importance=args.n_importance,
        device=args.device,
        random_state=0,
        verbose=1,
    )
    start = time.perf_counter()
    vae.fit(train)
    return vae, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--architecture", default="mlp", choices=["mlp", "conv"])
    parser.add_argument("--n-importance", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--gmm-components", type=int, default=10)
    parser.add_argument(
        "--gmm-train", type=int, default=20_000, help="training images for the mixture"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    x_train, _, x_test, _ = load_mnist(args.data)
    x_test = x_test[: args.n_test]
    d = 28 * 28
    rows = []

    binary_train, binary_test = (
        (x_train > 127).astype(np.uint8) * 255,
        (x_test > 127).astype(np.uint8) * 255,
    )
    vae_bin, seconds = fit_vae(binary_train, args)
    nll = -vae_bin.score(binary_test)
    rows.append(("binarised (>127)", f"VAE, Bernoulli, {args.architecture}", nll, seconds))

    vae_grey, seconds = fit_vae(x_train, args)
    nll_grey = -vae_grey.score(x_test)
    rows.append(
        ("grey uint8", f"VAE, discretised logistic, {args.architecture}", nll_grey, seconds)
    )

    rng = np.random.default_rng(0)
    dequantise = lambda x: (x.astype(np.float64) + rng.random(x.shape)) / 256.0  # noqa: E731
    gmm = GaussianMixture(args.gmm_components, max_iter=30, random_state=0, device=args.device)
    start = time.perf_counter()
    gmm.fit(dequantise(x_train[: args.gmm_train]))
    seconds = time.perf_counter() - start
    nll_gmm = -(gmm.score(dequantise(x_test)) - d * math.log(256.0))
    name = f"GaussianMixture, {args.gmm_components} full, dequantised, {args.gmm_train:,} train"
    rows.append(("grey uint8", name, nll_gmm, seconds))

    grid = HERE / "mnist_samples.png"
    save_grid(
        {
            "binarised VAE (Bernoulli draws)": vae_bin.sample(64, random_state=1),
            "grey VAE (logistic draws)": vae_grey.sample(64, random_state=1),
            "GaussianMixture": np.clip(gmm.sample(64, random_state=1) * 256, 0, 255).astype(
                np.uint8
            ),
            "real test images": x_test[:64],
        },
        grid,
    )
    table = "| data | model | NLL (nats) | bits/dim | fit (s) |\n|---|---|---|---|---|\n"
    for data, model, value, secs in rows:
        table += (
            f"| {data} | {model} | {value:.2f} | {bits_per_dim(-value, d):.4f} | {secs:.0f} |\n"
        )
    print(table)
    print(f"sample grid: {grid}")
    body = (
        f"### MNIST held-out NLL ({len(x_test):,} test images, {args.epochs} epochs, "
        f"IWAE with {args.n_importance} samples)\n\n{table}\n"
        "Binarisation: fixed threshold at 127. Lower is better. pythae reports 89.78 nats for a "
        "VAE on dynamically binarised MNIST (200 importance samples), a different binarisation. "
        f"Samples: `benchmarks/{grid.name}`."
    )
    options = f"--epochs {args.epochs} --architecture {args.architecture}"
    command = f"python benchmarks/bench_mnist.py {options}"
    write_section(f"mnist-{args.architecture}", body, command=command)


if __name__ == "__main__":
    main()

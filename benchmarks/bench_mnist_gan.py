"""MNIST: VAEGAN against the VAE with the same settings: samples, held-out NLL, and a
feature-space distance.

Both models fit the same grey uint8 training images (discretised logistic pixel
likelihood) with the same encoder/decoder and epochs; VAEGAN adds its DCGAN-style
discriminator. Measured on the test split:

- held-out NLL (nats per image and bits/dim), importance-weighted;
- Frechet distance between classifier features of 5,000 samples and 5,000 real test
  images (the classifier, :class:`hybridgen.metrics.ImageFeatures`, is a small CNN
  trained here on the labelled training images; lower is better);
- the classifier's mean top-class probability on samples (higher: more digit-like);
- a PNG grid of samples side by side (``benchmarks/mnist_vaegan_samples.png``).

    python benchmarks/bench_mnist_gan.py --train 20000 --epochs 20
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from _results import machine, write_section

from hybridgen import VAE, VAEGAN, bits_per_dim
from hybridgen.datasets import load_mnist
from hybridgen.metrics import ImageFeatures, frechet_distance

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "data" / "mnist.npz"


def save_grid(images: dict[str, np.ndarray], path: Path, n: int = 64) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = int(math.sqrt(n))
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.4))
    for ax, (title, imgs) in zip(np.atleast_1d(axes), images.items(), strict=True):
        tiles = imgs[:n].reshape(side, side, 28, 28).transpose(0, 2, 1, 3)
        ax.imshow(tiles.reshape(side * 28, side * 28), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--architecture", default="mlp", choices=["mlp", "conv"])
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    x_train, y_train, x_test, _ = load_mnist(args.data)
    x_train, y_train = x_train[: args.train], y_train[: args.train]
    common = {
        "latent_dim": 32,
        "hidden_dims": (512, 256),
        "architecture": args.architecture,
        "epochs": args.epochs,
        "batch_size": 128,
        "device": args.device,
        "random_state": 0,
    }
    features = ImageFeatures(epochs=3, random_state=0).fit(x_train, y_train)
    real = features.transform(x_test[:5000])
    rows, grids = [], {}
    for name, model in (("VAE", VAE(**common)), ("VAEGAN", VAEGAN(**common))):
        start = time.perf_counter()
        model.fit(x_train)
        seconds = time.perf_counter() - start
        nll = -model.score(x_test[: args.n_test])
        samples = model.sample(5000, random_state=1)
        fake = features.transform(samples)
        with torch.no_grad():
            logits = features.network_(ImageFeatures._as_tensor(samples))
            confidence = float(torch.softmax(logits, 1).max(1).values.mean())
        fd = frechet_distance(fake, real)
        rows.append((name, nll, bits_per_dim(-nll, 784), fd, confidence, seconds))
        grids[f"{name} samples"] = samples
        print(rows[-1], flush=True)
    grids["real test images"] = x_test
    grid = HERE / "mnist_vaegan_samples.png"
    save_grid(grids, grid)
    table = (
        "| model | NLL (nats) | bits/dim | feature Frechet distance | classifier confidence "
        "| fit (s) |\n|---|---|---|---|---|---|\n"
    )
    for name, nll, bpd, fd, conf, secs in rows:
        table += f"| {name} | {nll:.1f} | {bpd:.3f} | {fd:.2f} | {conf:.3f} | {secs:.0f} |\n"
    real_split = frechet_distance(features.transform(x_test[5000:10000]), real)
    table += f"| real test images (another 5,000) | - | - | {real_split:.2f} | - | - |\n"
    print(table)
    body = (
        f"### MNIST: VAEGAN against the VAE ({args.train:,} grey training images, "
        f"{args.epochs} epochs, {args.architecture} encoder/decoder, held-out NLL on "
        f"{args.n_test:,} test images)\n\n{table}\n"
        f"Feature space: a small CNN trained here on the labelled training images "
        f"(training accuracy {features.accuracy_:.3f}); Frechet distance of 5,000 samples "
        "against 5,000 test images, lower is better. Samples side by side: "
        f"`benchmarks/{grid.name}`. {machine()}."
    )
    command = (
        f"python benchmarks/bench_mnist_gan.py --train {args.train} --epochs {args.epochs} "
        f"--architecture {args.architecture}"
    )
    write_section(f"mnist-vaegan-{args.architecture}", body, command=command)


if __name__ == "__main__":
    main()

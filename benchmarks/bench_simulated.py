"""Simulated ground truth: L_syn and L_test on Gaussian mixtures (CTGAN paper protocol).

Data as in the SDGym simulated sets: ``grid``, 25 Gaussians at {-4, -2, 0, 2, 4}^2,
and ``ring``, 8 Gaussians on the unit circle, each with covariance 0.05 I and equal
weights; 10,000 rows to fit and 10,000 to test, seed 0. For each model:

- L_syn: mean log-density of its 10,000 synthetic rows under the true mixture;
- L_test: mean log-likelihood of the real test rows under a Gaussian mixture (as many
  full-covariance components as the truth, scikit-learn) fitted to the synthetic rows.

Higher is better for both; the true mixture gives the ceiling (an L_syn above it means
samples piled onto the modes, which L_test then catches).

    python benchmarks/bench_simulated.py                         # hybridgen models
    /tmp/benchenv/bin/python benchmarks/bench_simulated.py --models gmm,vae,vaegan,ctgan
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from _results import machine, write_section
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import hybridgen

VARIANCE, N_ROWS, SEED = 0.05, 10_000, 0


def means(name: str) -> np.ndarray:
    if name == "grid":
        return np.array(list(itertools.product(range(-4, 5, 2), repeat=2)), dtype=float)
    angles = np.arange(8) * math.pi / 4
    return np.stack([np.cos(angles), np.sin(angles)], 1)


def draw(centres: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows, as equal a number from each component as n allows, shuffled."""
    labels = rng.permutation(np.arange(n) % len(centres))
    return centres[labels] + math.sqrt(VARIANCE) * rng.standard_normal((n, centres.shape[1]))


def true_log_density(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = X.shape[1]
    sq = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
    log_n = -0.5 * sq / VARIANCE - 0.5 * d * math.log(2 * math.pi * VARIANCE)
    return logsumexp(log_n, axis=1) - math.log(len(centres))


def l_test(synthetic: np.ndarray, test: np.ndarray, k: int) -> float:
    gmm = SkGaussianMixture(k, covariance_type="full", n_init=3, random_state=SEED)
    return float(gmm.fit(synthetic).score(test))


def candidates(epochs: int) -> dict[str, Callable[[int], Any]]:
    """Model factories by name, each given the true number of components."""
    found: dict[str, Callable[[int], Any]] = {
        "gmm": lambda k: hybridgen.GaussianMixture(k, n_init=3, random_state=SEED, device="cpu"),
        "vae": lambda k: hybridgen.VAE(epochs=epochs, random_state=SEED, device="cpu"),
        "vaegan": lambda k: hybridgen.VAEGAN(epochs=epochs, random_state=SEED, device="cpu"),
    }
    try:
        import ctgan
    except ImportError:
        return found

    class Sdv:
        def __init__(self, cls: type) -> None:
            self.model = cls(epochs=epochs, cuda=False)

        def fit(self, X: np.ndarray) -> Sdv:
            self.model.fit(pd.DataFrame(X, columns=["x", "y"]))
            return self

        def sample(self, n: int) -> np.ndarray:
            return self.model.sample(n).to_numpy(dtype=float)

    found["tvae"] = lambda k: Sdv(ctgan.TVAE)
    found["ctgan"] = lambda k: Sdv(ctgan.CTGAN)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="grid,ring")
    parser.add_argument("--models", default="gmm,vae,vaegan")
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    available = candidates(args.epochs)
    models = args.models.split(",")
    lines = ["| set | model | L_syn | L_test | fit s |", "|---|---|---|---|---|"]
    for name in args.sets.split(","):
        rng = np.random.default_rng(SEED)
        centres = means(name)
        train, test = draw(centres, N_ROWS, rng), draw(centres, N_ROWS, rng)
        oracle = (true_log_density(test, centres).mean(), true_log_density(test, centres).mean())
        lines.append(f"| {name} | true mixture | {oracle[0]:.2f} | {oracle[1]:.2f} | - |")
        print(lines[-1], flush=True)
        for model_name in models:
            model = available[model_name](len(centres))
            start = time.perf_counter()
            model.fit(train)
            seconds = time.perf_counter() - start
            synthetic = np.asarray(model.sample(N_ROWS), dtype=float)
            syn = true_log_density(synthetic, centres).mean()
            lines.append(
                f"| {name} | {model_name} | {syn:.2f} | "
                f"{l_test(synthetic, test, len(centres)):.2f} | {seconds:.0f} |"
            )
            print(lines[-1], flush=True)
    body = (
        "### Simulated mixtures (SDGym grid and ring, 10,000 rows to fit and to test, "
        f"{args.epochs} epochs for the neural models, seed {SEED})\n\n"
        "L_syn: mean log-density of synthetic rows under the true mixture; L_test: mean "
        "log-likelihood of real test rows under a Gaussian mixture fitted to the synthetic "
        "rows. Higher is better; the true mixture is the ceiling.\n\n" + "\n".join(lines)
    )
    print(f"\n{machine()}")
    command = (
        f"python benchmarks/bench_simulated.py --sets {args.sets} --models {args.models} "
        f"--epochs {args.epochs}"
    )
    write_section("simulated", body, command=command)


if __name__ == "__main__":
    main()

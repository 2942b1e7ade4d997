"""EM speed: hybridgen.GaussianMixture against sklearn.mixture.GaussianMixture, side by side.

Full covariance, same data, same initial parameters (weights/means/precisions given
to both), same number of iterations (tol=0). A fit's set-up (validation, any
initialisation work) is taken out by timing ``max_iter=1+I`` and ``max_iter=1`` and
dividing the difference by I, so the figure is seconds per EM iteration.

    python benchmarks/bench_gmm_speed.py                       # CPU, N=200,000
    python benchmarks/bench_gmm_speed.py --device cuda --n 1000000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import sklearn
import torch
from _results import write_section
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from hybridgen import GaussianMixture


def make_data(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 4.0, (k, d))
    labels = rng.integers(0, k, n)
    X = centers[labels] + rng.normal(size=(n, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)))
    init = {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": X[rng.choice(n, k, replace=False)],
        "precisions_init": np.stack([np.eye(d)] * k),
    }
    return X, init


def seconds_per_iteration(make, X: np.ndarray, iters: int, repeats: int = 2) -> tuple[float, float]:
    """(seconds per EM iteration, final mean log-likelihood) from fits of 1 and 1+iters."""

    def timed(max_iter: int) -> tuple[float, object]:
        best, model = np.inf, None
        for _ in range(repeats):
            start = time.perf_counter()
            model = make(max_iter).fit(X)
            best = min(best, time.perf_counter() - start)
        return best, model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t1, _ = timed(1)
        tn, model = timed(1 + iters)
    return (tn - t1) / iters, model.score(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    X, init = make_data(args.n, args.d, args.k)
    common = {"n_components": args.k, "covariance_type": "full", "tol": 0.0, **init}

    def ours(max_iter: int) -> GaussianMixture:
        return GaussianMixture(**common, max_iter=max_iter, device=args.device)

    def theirs(max_iter: int) -> SkGaussianMixture:
        return SkGaussianMixture(**common, max_iter=max_iter)

    if args.device != "cpu":  # warm the device (CUDA context, kernels) before timing
        ours(2).fit(X[:10_000])
    t_ours, ll_ours = seconds_per_iteration(ours, X, args.iters)
    t_sk, ll_sk = seconds_per_iteration(theirs, X, args.iters)
    ratio = t_sk / t_ours
    rel = abs(ll_ours - ll_sk) / abs(ll_sk)
    where = (
        torch.cuda.get_device_name(0)
        if args.device != "cpu"
        else f"{torch.get_num_threads()} CPU threads"
    )
    print(f"N={args.n:,} D={args.d} K={args.k} full covariance, {args.iters} timed iterations")
    print(f"scikit-learn (CPU):       {t_sk * 1e3:10.1f} ms/iteration")
    print(f"hybridgen ({args.device}, {where}): {t_ours * 1e3:10.1f} ms/iteration")
    print(f"speed-up: {ratio:.1f}x; final mean log-likelihood {ll_ours:.8f} vs {ll_sk:.8f}")
    title = f"{args.device} (N={args.n:,}, D={args.d}, K={args.k}, full covariance)"
    body = (
        f"### GaussianMixture EM speed, {title}\n\n"
        "| implementation | ms per EM iteration | final mean log-likelihood |\n|---|---|---|\n"
        f"| scikit-learn {sklearn.__version__} (CPU) | {t_sk * 1e3:.1f} | {ll_sk:.8f} |\n"
        f"| hybridgen on {args.device} ({where}) | {t_ours * 1e3:.1f} | {ll_ours:.8f} |\n\n"
        f"**Speed-up {ratio:.1f}x**, same data, same initial parameters, same {1 + args.iters} "
        f"iterations; likelihoods agree to {rel:.1e} relative."
    )
    write_section(
        f"gmm-speed-{args.device}",
        body,
        command=f"python benchmarks/bench_gmm_speed.py --device {args.device} --n {args.n}",
    )


if __name__ == "__main__":
    main()

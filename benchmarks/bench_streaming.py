"""Scale-out figures: a 10,000,000 x 16 Parquet file fitted in chunks by
GaussianMixture (peak memory and time per EM pass), and EM and VAE training on 1 and
2 processes.

Streaming: the file (1.3 GB of float64, written once to ``--path``) is read 250,000
rows at a time. Each fit runs in a child process, whose peak resident memory is the
figure (the torch import included). Time per EM pass is (T(max_iter=3) -
T(max_iter=1)) / 2, so the first pass over the file (the column summaries) and the
k-means start on the first chunk are taken out; they are reported as "set-up".

Scaling (``scaling``): 1,000,000 x 16 rows in memory, split over the processes of ``torchrun``
(gloo, one thread each), against one process with one and with two threads. Seconds
per EM iteration are (T(1 + I) - T(1)) / I, timed on rank 0 between barriers; VAE
seconds per epoch are the mean of epochs 2 to 4 of a fit on 100,000 rows.

On a GPU machine, ``scaling-gpu`` times the same work on one process with every CPU
core and on one process with the GPU.

    python benchmarks/bench_streaming.py --parts streaming,scaling
    python benchmarks/bench_streaming.py --parts scaling-gpu
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
N_FEATURES, N_COMPONENTS = 16, 8
VAE_ROWS = 100_000


def mixture_rows(n: int, seed: int) -> np.ndarray:
    """n rows of a fixed mixture of 8 correlated Gaussians in 16 dimensions."""
    centers = np.random.default_rng(0).normal(0.0, 4.0, (N_COMPONENTS, N_FEATURES))
    noise = np.random.default_rng(1).normal(size=(N_FEATURES, N_FEATURES))
    mixing = np.eye(N_FEATURES) + 0.3 * noise
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_COMPONENTS, n)
    return centers[labels] + rng.normal(size=(n, N_FEATURES)) @ mixing


def write_parquet(path: Path, n_rows: int, piece: int = 250_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{j}" for j in range(N_FEATURES)]
    schema = pa.schema([(name, pa.float64()) for name in names])
    with pq.ParquetWriter(path.with_suffix(".tmp"), schema) as writer:
        for i, start in enumerate(range(0, n_rows, piece)):
            rows = mixture_rows(min(piece, n_rows - start), seed=100 + i)
            writer.write_table(pa.Table.from_arrays(list(rows.T), names=names))
    path.with_suffix(".tmp").rename(path)


def _child_fit(path: str, max_iter: int, chunk_size: int) -> None:
    """Runs in a child process: fit on the file in chunks, print seconds as JSON."""
    from hybridgen import Chunks, GaussianMixture

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose (tol=0)
        model = GaussianMixture(N_COMPONENTS, max_iter=max_iter, tol=0.0, random_state=0)
        model.fit(Chunks(path, chunk_size=chunk_size))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": model.n_samples_seen_}))


def _fit_in_child(path: Path, max_iter: int, chunk_size: int) -> tuple[float, int, float]:
    """(seconds, rows, peak resident memory in GB) of one fit in a fresh process."""
    command = [sys.executable, str(HERE), "_fit", str(path), str(max_iter), str(chunk_size)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest of any child so far: the first child is the
    # only one measured unless a later one grew larger
    return result["seconds"], result["rows"], max(peak_kb, before) / 1024**2


def streaming(path: Path, n_rows: int, chunk_size: int) -> str:
    if not path.exists():
        print(f"writing {n_rows:,} rows to {path} ...", flush=True)
        write_parquet(path, n_rows)
    size_gb = path.stat().st_size / 1024**3
    t1, rows, peak1 = _fit_in_child(path, 1, chunk_size)
    t3, _, peak3 = _fit_in_child(path, 3, chunk_size)
    per_pass = (t3 - t1) / 2
    peak = max(peak1, peak3)
    print(f"rows {rows:,}: set-up + 1 pass {t1:.1f} s, {per_pass:.1f} s per pass, {peak:.2f} GB")
    return "\n".join(
        [
            "### Streaming EM from Parquet (GaussianMixture, 8 components, full covariance)",
            "",
            "| rows x columns | file | chunk | peak memory | set-up + 1st EM pass | per EM pass |",
            "|---|---|---|---|---|---|",
            f"| {rows:,} x {N_FEATURES} | {size_gb:.2f} GB | {chunk_size:,} rows | "
            f"{peak:.2f} GB | {t1:.1f} s | {per_pass:.1f} s |",
            "",
            "Peak memory is the child process's peak resident set (torch included); the "
            "goal is under 2 GB. The float64 data alone would take "
            f"{rows * N_FEATURES * 8 / 1024**3:.2f} GB in memory. Set-up is the pass that "
            "learns the columns plus k-means on the first chunk.",
        ]
    )


def _scaling_worker(n_rows: int, iterations: int, threads: int, device: str) -> None:
    """Runs under torchrun: EM on this process's share of the rows, timed on rank 0."""
    import torch

    from hybridgen import VAE, GaussianMixture, distributed

    torch.set_num_threads(threads)
    if "WORLD_SIZE" in os.environ:
        distributed.init_process_group("gloo")
    rank, world = distributed.rank(), distributed.world_size()
    X = mixture_rows(n_rows, seed=7)[rank::world]

    def timed(max_iter: int) -> float:
        distributed.barrier()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(
                N_COMPONENTS, max_iter=max_iter, tol=0.0, random_state=0, device=device
            ).fit(X)
        distributed.barrier()
        return time.perf_counter() - start

    timed(1)  # warm-up
    per_iteration = (timed(1 + iterations) - timed(1)) / iterations
    vae = VAE(epochs=4, batch_size=500, random_state=0, device=device)
    vae.fit(mixture_rows(VAE_ROWS, seed=8)[rank::world])
    per_epoch = float(np.mean([r["seconds"] for r in vae.history_[1:]]))
    if rank == 0:
        print(json.dumps({"per_iteration": per_iteration, "per_epoch": per_epoch}))


def _timings(
    processes: int, threads: int, n_rows: int, iterations: int, device: str = "cpu"
) -> dict[str, float]:
    worker = [str(HERE), "_scale", str(n_rows), str(iterations), str(threads), device]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc-per-node", str(processes)]
        launcher += ["--master-port", "29533"]
    done = subprocess.run(launcher + worker, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _speed_table(
    setups: list[tuple[str, int, int, str]], n_rows: int, iterations: int
) -> list[str]:
    """Time each (label, processes, threads, device) set-up; a markdown table, the first
    set-up the reference of the speed-ups."""
    rows = []
    for label, processes, threads, device in setups:
        t = _timings(processes, threads, n_rows, iterations, device)
        print(f"{label}: EM {t['per_iteration']:.4f} s/iteration, VAE {t['per_epoch']:.3f} s/epoch")
        rows.append((label, t["per_iteration"], t["per_epoch"]))
    em0, vae0 = rows[0][1], rows[0][2]
    return [
        "| set-up | EM per iteration | speed-up | VAE per epoch | speed-up |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {em * 1e3:.1f} ms | {em0 / em:.2f}x | {vae:.3f} s | {vae0 / vae:.2f}x |"
            for label, em, vae in rows
        ),
    ]


def scaling(n_rows: int, iterations: int) -> str:
    setups = [
        ("1 process, 1 thread", 1, 1, "cpu"),
        ("1 process, 2 threads", 1, 2, "cpu"),
        ("2 processes (gloo), 1 thread each", 2, 1, "cpu"),
    ]
    return "\n".join(
        [
            f"### EM and VAE on 1 and 2 processes ({N_FEATURES} numeric columns; EM: "
            f"{n_rows:,} rows in memory, {N_COMPONENTS} components, full covariance; VAE: "
            f"{VAE_ROWS:,} rows, batch 500, default networks)",
            "",
            *_speed_table(setups, n_rows, iterations),
            "",
            "This machine has 2 cores, so 2 processes can at best halve the time of one "
            "single-threaded process, and compete with the one process using both cores. "
            "Each EM iteration all-reduces one vector of "
            f"{N_COMPONENTS * (N_FEATURES**2 + N_FEATURES + 1)} numbers; each VAE step "
            "runs under DistributedDataParallel, which all-reduces the gradient (about "
            "1 MB). The batch of a step is 500 rows over all processes (250 each on two).",
        ]
    )


def scaling_gpu(n_rows: int, iterations: int) -> str:
    """The same work on one process with every CPU core, and on one process with the GPU."""
    import torch

    threads = os.cpu_count() or 1
    setups = [
        (f"1 process, {threads} CPU threads", 1, threads, "cpu"),
        (f"1 process, 1 GPU ({torch.cuda.get_device_name(0)})", 1, 1, "cuda"),
    ]
    return "\n".join(
        [
            f"### EM and VAE on a GPU machine (the `scaling` work: EM on {n_rows:,} rows, "
            f"{N_COMPONENTS} components, full covariance; VAE on {VAE_ROWS:,} rows, batch 500)",
            "",
            *_speed_table(setups, n_rows, iterations),
            "",
            "The machine has one GPU, so the 2-GPU figure cannot be taken there: nccl "
            "wants one GPU per process. The multi-process code path on CUDA tensors is "
            "tested (`pytest -m gpu`: two processes sharing the GPU over gloo, and the "
            "neural fits on nccl in a group of one).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="streaming,scaling")
    parser.add_argument("--path", type=Path, default=Path("/tmp/hybridgen-stream-10m.parquet"))
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-size", type=int, default=250_000)
    parser.add_argument("--scaling-rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    from _results import write_section

    parts = args.parts.split(",")
    command = "python benchmarks/bench_streaming.py --parts {}"
    if "streaming" in parts:
        body = streaming(args.path, args.rows, args.chunk_size)
        write_section("streaming", body, command=command.format("streaming"))
    if "scaling-gpu" in parts:
        body = scaling_gpu(args.scaling_rows, args.iterations)
        write_section("scaling-gpu", body, command=command.format("scaling-gpu"))
    if "scaling" in parts:
        body = scaling(args.scaling_rows, args.iterations)
        write_section("scaling", body, command=command.format("scaling"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_fit":
        _child_fit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_scale":
        _scaling_worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()

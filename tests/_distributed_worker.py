"""Run by tests/test_streaming.py under ``torchrun --nproc-per-node 2`` (gloo, CPU).

``gmm``: each process fits a GaussianMixture on its own shard, once in memory and once
read as chunks of a Parquet folder, and on its share of labelled images.
``neural``: each process fits a VAE, a VAEGAN and a VAE conditioned on "city" on its
shard. Rank 0 saves the models to the folder given. ``nccl`` (on a GPU, any number of
processes): the collectives hybridgen uses, on the nccl backend, checked in place.
``errors``: a process without rows makes every process raise, none waits forever.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import hybridgen
from hybridgen import VAE, VAEGAN, GaussianMixture, distributed
from hybridgen.chunks import Chunks

what, folder = sys.argv[1], Path(sys.argv[2])
torch.set_num_threads(1)
if what == "nccl":
    from hybridgen.distributed import all_reduce_sum, average_gradients, broadcast_tensors

    distributed.init_process_group("nccl")
    world, rank = distributed.world_size(), distributed.rank()
    on_gpu = torch.full((3,), float(rank + 1), device="cuda")
    (total,) = all_reduce_sum([on_gpu])
    assert total.device.type == "cuda" and total.tolist() == [world * (world + 1) / 2] * 3
    (first,) = broadcast_tensors([torch.tensor([float(rank)])])  # a CPU tensor travels too
    assert first.device.type == "cpu" and first.item() == 0.0
    weight = torch.nn.Parameter(torch.zeros(2, device="cuda"))
    weight.grad = torch.full((2,), float(rank), device="cuda")
    average_gradients([weight])
    assert weight.grad.tolist() == [(world - 1) / 2] * 2
    assert distributed.all_gather_objects(rank) == list(range(world))
    (folder / f"nccl-ok-{rank}").write_text("ok")
    torch.distributed.destroy_process_group()
    sys.exit(0)
distributed.init_process_group("gloo")
rank = distributed.rank()
if what == "errors":  # one file for two processes: rank 1 has no chunk; both must raise
    try:
        GaussianMixture(2, device="cpu").fit(Chunks(folder / "shards").shard())
    except hybridgen.DataValidationError as exc:
        (folder / f"raised-{rank}").write_text(str(exc))
    torch.distributed.destroy_process_group()
    sys.exit(0)
shard = pd.read_parquet(folder / "shards" / f"part{rank}.parquet")
if what == "gmm":
    settings = {"n_components": 3, "random_state": 0, "device": "cpu", "max_iter": 40, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose (tol=0)
        GaussianMixture(**settings).fit(shard).save(folder / "in_memory.hg")
        chunks = Chunks(folder / "shards").shard()  # file i goes to rank i % 2
        GaussianMixture(**settings).fit(chunks).save(folder / "chunks.hg")
        images = np.load(folder / "images.npz")
        given = {k: images[k] for k in ("weights_init", "means_init", "precisions_init")}
        mixture = GaussianMixture(covariance_type="diag", **settings | given)
        part = images["part"] == rank  # rank 1's share lacks a class
        mixture.fit(images["X"][part], images["y"][part]).save(folder / "images.hg")
else:
    settings = {"epochs": int(sys.argv[3]), "batch_size": 50, "random_state": 0, "device": "cpu"}
    VAE(**settings, hidden_dims=(32,), latent_dim=4).fit(shard).save(folder / "vae.hg")
    VAEGAN(**VAEGAN._quick_params | settings).fit(shard).save(folder / "vaegan.hg")
    conditional = VAE(**settings | {"epochs": 3}, hidden_dims=(16,), condition_columns=["city"])
    conditional.fit(shard).save(folder / "vae_conditional.hg")
torch.distributed.destroy_process_group()

"""Run by tests/test_streaming.py under ``torchrun --nproc-per-node 2`` (gloo, CPU).

``gmm``: each process fits a GaussianMixture on its own shard, once in memory and once
read as chunks of a Parquet folder, and on its share of labelled images.
``neural``: each process fits a VAE, a VAEGAN and a VAE conditioned on "city" on its
shard, under DistributedDataParallel, and checks that every process ends with the same
weights; each process writes which fits were wrapped. Rank 0 saves the models to the
folder given. ``nccl`` (on a GPU, one process per GPU): the collectives hybridgen
uses, checked in place, and the neural fits of ``neural`` on the nccl backend.
``errors``: a process without rows makes every process raise, none waits forever.
"""

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import hybridgen
from hybridgen import VAE, VAEGAN, GaussianMixture, distributed, training
from hybridgen.chunks import Chunks

what, folder = sys.argv[1], Path(sys.argv[2])
device = os.environ.get("HYBRIDGEN_TEST_DEVICE", "cpu")  # "cuda": the processes share a GPU
torch.set_num_threads(1)


def same_weights_everywhere(model) -> bool:
    """Whether every process of the group holds exactly the weights of rank 0."""
    state = {k: v.detach().cpu() for k, v in model.module_.state_dict().items()}
    return all(
        all(torch.equal(other[k], state[k]) for k in state)
        for other in distributed.all_gather_objects(state)
    )


def fit_neural(shard, settings, folder) -> None:
    """VAE, VAEGAN and a conditional VAE on this process's shard; rank 0 saves them."""
    rank, wrapped = distributed.rank(), []  # which fits train under DistributedDataParallel
    make_ddp = training._data_parallel
    training._data_parallel = lambda model: wrapped.append(type(model).__name__) or make_ddp(model)
    # without fit's closing broadcast of rank 0's networks, equal weights show that
    # every step of every process used the same mean gradient
    training.broadcast_module = lambda module: None
    vae = VAE(**settings, hidden_dims=(32,), latent_dim=4).fit(shard)
    vaegan = VAEGAN(**VAEGAN._quick_params | settings).fit(shard)
    # numeric columns, so uniform batches (no training-by-sampling), of 24 rows (12
    # packs) per process: rank 0's epoch ends with one row, less than a pack, which
    # waits for the next epoch, and rank 0 makes the step rank 1 makes from a new pass
    share, numeric = 24, shard[["y", "count"]]
    gan = {"batch_size": share * distributed.world_size(), "pac": 2}
    sliver = VAEGAN(**VAEGAN._quick_params | settings | gan)
    sliver.fit(numeric[: 32 * share + 1 if rank == 0 else None])
    assert same_weights_everywhere(sliver), "VAEGAN with a one-row batch: weights differ"
    tiny = VAEGAN(**VAEGAN._quick_params | settings | {"pac": 4, "epochs": 2})
    tiny.fit(numeric[: 3 if rank == 1 else None])  # rank 1: fewer rows than a pack
    assert same_weights_everywhere(tiny), "VAEGAN on a shard short of a pack: weights differ"
    conditional = VAE(**settings | {"epochs": 3}, hidden_dims=(16,), condition_columns=["city"])
    conditional.fit(shard)
    models = {"vae": vae, "vaegan": vaegan, "vae_conditional": conditional}
    for name, model in models.items():
        model.save(folder / f"{name}.hg")
        assert same_weights_everywhere(model), f"{name}: the processes' weights differ"
    (folder / f"data-parallel-{rank}").write_text(",".join(wrapped))


if what == "nccl":
    from hybridgen.distributed import all_reduce_sum, broadcast_tensors

    distributed.init_process_group("nccl")
    world, rank = distributed.world_size(), distributed.rank()
    on_gpu = torch.full((3,), float(rank + 1), device="cuda")
    (total,) = all_reduce_sum([on_gpu])
    assert total.device.type == "cuda" and total.tolist() == [world * (world + 1) / 2] * 3
    (first,) = broadcast_tensors([torch.tensor([float(rank)])])  # a CPU tensor travels too
    assert first.device.type == "cpu" and first.item() == 0.0
    assert distributed.all_gather_objects(rank) == list(range(world))
    rng = np.random.default_rng(rank)
    table = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(["a", "b"], 300)})
    settings = {"epochs": 2, "batch_size": 50, "random_state": 0, "device": "cuda"}
    fit_neural(table, settings, folder)  # DDP on nccl, one process per GPU
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
    settings = {"n_components": 3, "random_state": 0, "device": device, "max_iter": 40, "tol": 0.0}
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
    settings = {"epochs": int(sys.argv[3]), "batch_size": 50, "random_state": 0, "device": device}
    fit_neural(shard, settings, folder)
torch.distributed.destroy_process_group()

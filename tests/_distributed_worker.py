"""Run by tests/test_streaming.py under ``torchrun --nproc-per-node 2`` (gloo, CPU).

Each process fits a GaussianMixture on its own shard, once in memory and once read as
chunks of a Parquet folder, and rank 0 saves both models to the folder given.
"""

import sys
import warnings
from pathlib import Path

import pandas as pd

from hybridgen import GaussianMixture, distributed
from hybridgen.chunks import Chunks

folder = Path(sys.argv[1])
distributed.init_process_group("gloo")
rank = distributed.rank()
settings = {"n_components": 3, "random_state": 0, "device": "cpu", "max_iter": 40, "tol": 0.0}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # max_iter is reached on purpose (tol=0)
    shard = pd.read_parquet(folder / "shards" / f"part{rank}.parquet")
    GaussianMixture(**settings).fit(shard).save(folder / "in_memory.hg")
    chunks = Chunks(folder / "shards").shard()  # file i goes to rank i % 2
    GaussianMixture(**settings).fit(chunks).save(folder / "chunks.hg")

"""Scale-out: tables read in chunks, stepwise EM, and EM over torch.distributed processes.

Chunked and multi-process fits are checked against the single-process fit on all rows
in memory, which test_gmm.py checks against scikit-learn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hybridgen
from hybridgen import VAEGAN, DataValidationError, GaussianMixture
from hybridgen._column_summary import merge_tables
from hybridgen._em import Params, block_matrix, m_step, mixture_layout, stats_from_params
from hybridgen.chunks import Chunks
from hybridgen.transform import TabularTransformer

from .conftest import requires_cuda

FITTED = ("weights_", "means_", "covariances_", "discrete_probs_", "category_counts_")


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    """Mixed columns with missing values: two numeric, an integer, a categorical, a bool."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(group * 3.0, 1.0),
            "y": rng.normal(-group, 0.5 + group),
            "count": rng.poisson(2 + group),
            "city": np.array(["north", "south", "east"], dtype=object)[
                (group + (rng.random(n) < 0.2)) % 3
            ],
            "flag": rng.random(n) < 0.2 + 0.2 * group,
        }
    )
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    frame.loc[rng.random(n) < 0.05, "city"] = None
    return frame


def _parts(frame: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    bounds = [0, *cuts, len(frame)]
    pairs = zip(bounds[:-1], bounds[1:], strict=True)
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in pairs]


def _assert_same_fit(a: GaussianMixture, b: GaussianMixture, rtol: float = 1e-9) -> None:
    for name in FITTED:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=1e-11)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


def _quiet_fit(model: GaussianMixture, X, y=None) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hybridgen.ConvergenceWarning)
        return model.fit(X, y)


def _given_init(k: int, d: int, covariance_type: str, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    precisions = {
        "full": np.stack([np.eye(d)] * k),
        "tied": np.eye(d),
        "diag": np.ones((k, d)),
        "spherical": np.ones(k),
    }[covariance_type]
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": rng.normal(size=(k, d)),
        "precisions_init": precisions,
    }


# ---------------------------------------------------------------------------------------
# the data layer learns the same columns from chunks
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("numeric", ["identity", "standard"])
def test_transformer_from_chunk_summaries_equals_fit_on_all_rows(numeric):
    frame = _table(600)
    whole = TabularTransformer(numeric=numeric).fit(frame)
    t = TabularTransformer(numeric=numeric)
    summaries = [t.summarize(part) for part in _parts(frame, [100, 350])]
    merged = summaries[0]
    for s in summaries[1:]:
        merged = merge_tables(merged, s)
    t.fit_summary(merged)
    assert t.columns_ == whole.columns_ or all(
        a.categories == b.categories and a.kind == b.kind and a.dtype == b.dtype
        for a, b in zip(t.columns_, whole.columns_, strict=True)
    )
    for a, b in zip(t.columns_, whole.columns_, strict=True):
        assert (a.kind, a.dtype, a.categories, a.has_missing) == (
            b.kind,
            b.dtype,
            b.categories,
            b.has_missing,
        )
        assert a.missing_rate == pytest.approx(b.missing_rate)
        assert (a.minimum, a.maximum) == (b.minimum, b.maximum)
    np.testing.assert_allclose(t.transform(frame), whole.transform(frame), rtol=1e-12)
    np.testing.assert_array_equal(t.category_counts(), whole.category_counts())


def test_chunk_dtypes_merge_as_concatenation_would():
    """An integer column with missing values in one chunk only, a categorical column
    whose chunks declare different categories, and a chunk where a column is all
    missing give the columns the concatenated table has."""
    a = pd.DataFrame(
        {
            "n": np.array([1, 2, 3]),
            "c": pd.Categorical(["u", "v", "u"]),
            "z": [0.5, 1.5, 2.0],
        }
    )
    b = pd.DataFrame(
        {"n": [4.0, np.nan, 6.0], "c": pd.Categorical(["w", "w", "u"]), "z": [np.nan] * 3}
    )
    t = TabularTransformer()
    t.fit_summary(merge_tables(t.summarize(a), t.summarize(b)))
    whole = TabularTransformer().fit(pd.concat([a, b], ignore_index=True))
    got = {s.name: (s.kind, s.dtype, s.categories, s.has_missing) for s in t.columns_}
    expected = {s.name: (s.kind, s.dtype, s.categories, s.has_missing) for s in whole.columns_}
    # a plain column of strings: "object" here, "object" or "str" (pandas 3) for concat
    assert got["c"] == ("categorical", "object", ("u", "v", "w"), False)
    assert expected["c"][0] == "categorical" and expected["c"][2:] == got["c"][2:]
    assert got["z"] == expected["z"]
    assert got["n"] == expected["n"] == ("float", "float64", (), True)
    assert t.category_counts().tolist() == [3.0, 1.0, 2.0]
    # an integer column whose second chunk is all missing is a float column, as in the
    # concatenated table; a declared kind stays
    c = pd.DataFrame({"n": [np.nan] * 3})
    merged = merge_tables(t.summarize(a[["n"]]), t.summarize(c))
    concat = TabularTransformer().fit(pd.concat([a[["n"]], c], ignore_index=True))
    assert TabularTransformer().fit_summary(merged).columns_ == concat.columns_
    declared = TabularTransformer(column_kinds={"n": "integer"})
    summary = merge_tables(declared.summarize(a[["n"]]), declared.summarize(c))
    assert declared.fit_summary(summary).columns_[0].kind == "integer"


def test_chunks_of_conflicting_kinds_or_columns_are_refused():
    t = TabularTransformer()
    numbers, words = pd.DataFrame({"v": [1.0, 2.0]}), pd.DataFrame({"v": ["a", "b"]})
    with pytest.raises(DataValidationError, match=r"Column 'v' holds float values .* categorical"):
        merge_tables(t.summarize(numbers), t.summarize(words), "chunk 1")
    with pytest.raises(DataValidationError, match="same columns in the same order"):
        merge_tables(t.summarize(numbers), t.summarize(pd.DataFrame({"w": [1.0]})), "chunk 1")


# ---------------------------------------------------------------------------------------
# chunked EM == EM on all rows in memory
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_fit_on_chunks_equals_fit_in_memory(covariance_type):
    frame = _table(1500)
    settings = {
        "n_components": 3,
        "covariance_type": covariance_type,
        "random_state": 0,
        "device": "cpu",
        "max_iter": 25,
        "tol": 0.0,
        **_given_init(3, 3, covariance_type),
    }
    whole = _quiet_fit(GaussianMixture(**settings), frame)
    chunked = _quiet_fit(GaussianMixture(**settings), Chunks(_parts(frame, [200, 900])))
    _assert_same_fit(whole, chunked)
    assert chunked.n_samples_seen_ == whole.n_samples_seen_ == 1500
    assert chunked.score(frame) == pytest.approx(whole.score(frame), rel=1e-10)


def test_parquet_csv_and_frames_give_the_same_fit(tmp_path):
    frame = _table(900).drop(columns="flag")  # a bool column with NaN reads back as object
    parts = _parts(frame, [300, 600])
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=300)
    frame.to_csv(tmp_path / "t.csv", index=False)
    settings = {"n_components": 2, "random_state": 0, "device": "cpu", "max_iter": 15}
    reference = _quiet_fit(GaussianMixture(**settings), parts)  # a list of frames
    for path in ("t.parquet", "t.csv"):
        model = _quiet_fit(GaussianMixture(**settings), Chunks(tmp_path / path, chunk_size=300))
        _assert_same_fit(model, reference)
    # a path alone is read in chunks of 100,000 rows: here one chunk, the whole table
    from_path = _quiet_fit(GaussianMixture(**settings), str(tmp_path / "t.parquet"))
    np.testing.assert_allclose(from_path.score(parts), reference.score(frame), rtol=1e-2)
    assert from_path.score(str(tmp_path / "t.csv")) == pytest.approx(from_path.score(frame))
    np.testing.assert_allclose(
        from_path.score_samples(Chunks(parts)), from_path.score_samples(frame), rtol=1e-12
    )


def test_chunks_reread_from_a_function_and_refuse_one_pass_iterators():
    frame = _table(400)
    parts = _parts(frame, [150])
    settings = {"n_components": 2, "random_state": 0, "device": "cpu", "max_iter": 10}
    made = _quiet_fit(GaussianMixture(**settings), Chunks(lambda: iter(parts)))
    _assert_same_fit(made, _quiet_fit(GaussianMixture(**settings), parts))
    with pytest.raises(DataValidationError, match="one-pass generator"):
        GaussianMixture(**settings).fit(p for p in parts)
    with pytest.raises(DataValidationError, match="images are fitted in memory"):
        GaussianMixture(**settings).fit(Chunks([np.zeros((4, 3, 3))]))
    empty = Chunks(lambda: iter([frame.head(0)]))  # empty chunks are skipped: no rows
    for method in ("fit", "score", "score_samples"):
        with pytest.raises(DataValidationError, match="holds no rows"):
            getattr(made if method != "fit" else GaussianMixture(**settings), method)(empty)


def test_a_first_chunk_too_small_to_initialise_is_refused():
    parts = _parts(_table(300), [2])
    with pytest.raises(hybridgen.InvalidParameterError, match="The first chunk has 2 rows"):
        GaussianMixture(3, device="cpu").fit(Chunks(parts))


def test_chunks_name_what_they_cannot_read(tmp_path):
    with pytest.raises(DataValidationError, match="No such file"):
        Chunks(tmp_path / "missing.parquet")
    with pytest.raises(DataValidationError, match="holds no .parquet file"):
        Chunks(tmp_path)
    (tmp_path / "table.xlsx").write_text("")
    with pytest.raises(DataValidationError, match="expected a .parquet or .csv file"):
        Chunks(tmp_path / "table.xlsx")
    with pytest.raises(DataValidationError, match="got a int"):
        Chunks(3)
    with pytest.raises(hybridgen.InvalidParameterError, match="'chunk_size'"):
        Chunks([np.zeros((2, 2))], chunk_size=0)
    with pytest.raises(DataValidationError, match="Chunk 1 .* is a str"):
        list(Chunks([np.zeros((2, 2)), "rows"]))
    assert [len(c) for c in Chunks([np.zeros((4, 2))] * 4, rank=1, world_size=2)] == [4, 4]


def test_neural_estimators_read_chunks_into_memory():
    frame = _table(200)
    model = hybridgen.VAE(**hybridgen.VAE._quick_params, random_state=0, device="cpu")
    fitted = model.fit(Chunks(_parts(frame, [120])))
    assert fitted.n_features_in_ == 5
    assert np.isfinite(fitted.score(Chunks(_parts(frame, [50]))))


# ---------------------------------------------------------------------------------------
# stepwise EM
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_statistics_rebuilt_from_parameters_give_them_back(covariance_type):
    """m_step(stats_from_params(p)) == p: the closed form partial_fit relies on."""
    frame = _table(500)
    model = _quiet_fit(
        GaussianMixture(3, covariance_type=covariance_type, random_state=0, device="cpu"), frame
    )
    params = model._params(torch.device("cpu"), torch.float64)
    layout = mixture_layout(model.transformer_.layout_)
    blocks = block_matrix(layout, torch.device("cpu"), torch.float64)
    stats = stats_from_params(params, 500, covariance_type, model.reg_covar)
    again = m_step(stats, covariance_type, model.reg_covar, blocks)
    for name in vars(params):
        np.testing.assert_allclose(
            getattr(again, name), getattr(params, name), rtol=1e-9, atol=1e-12
        )
    assert isinstance(again, Params)


def test_partial_fit_follows_a_stream_to_the_full_fit():
    frame = _table(4000, seed=3)
    full = _quiet_fit(GaussianMixture(3, random_state=0, device="cpu"), frame)
    stream = GaussianMixture(3, random_state=0, device="cpu")
    for part in _parts(frame, list(range(1000, 4000, 500))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hybridgen.ConvergenceWarning)
            stream.partial_fit(part)
    assert stream.n_samples_seen_ == 4000
    held_out = _table(3000, seed=4)
    # one pass of stepwise EM comes within 0.02 nats per row of the maximum likelihood
    assert stream.score(held_out) == pytest.approx(full.score(held_out), abs=0.02)
    first = _parts(frame, [1000])[0]
    first_only = _quiet_fit(GaussianMixture(3, random_state=0, device="cpu"), first)
    assert stream.score(held_out) > first_only.score(held_out)


def test_partial_fit_refuses_what_the_first_chunk_could_not_encode():
    frame = _table(600)
    model = GaussianMixture(2, random_state=0, device="cpu").partial_fit(frame)
    new_city = frame.head(50).assign(city="west")
    with pytest.raises(DataValidationError, match=r"Column 'city' has categories \['west'\]"):
        model.partial_fit(new_city)
    missing_y = frame.head(50).assign(y=np.nan)
    with pytest.raises(DataValidationError, match="Column 'y'"):
        model.partial_fit(missing_y)
    assert model.n_samples_seen_ == 600  # nothing was taken in, by the model or its columns
    assert model.transformer_.summary_.columns[0].n == 600
    declared = frame.head(50).assign(
        city=pd.Categorical(frame["city"].head(50), categories=["east", "north", "south", "z"])
    )
    model.partial_fit(declared)  # "z" is declared but never occurs: nothing new to encode
    assert model.n_samples_seen_ == 650
    wider = frame.head(50).assign(count=100)
    model.partial_fit(wider)
    spec = {s.name: s for s in model.transformer_.columns_}["count"]
    assert spec.maximum == 100 and model.n_samples_seen_ == 700


def test_an_epoch_has_exactly_the_steps_every_process_makes():
    """Processes of a group step together: an epoch is cut short, or continued with a
    fresh pass of the batch source, to the agreed number of steps."""
    from hybridgen.training import _epoch_batches

    generator = torch.Generator().manual_seed(0)

    def source(gen):
        order = torch.randperm(5, generator=gen)
        return iter([order[:2], order[2:4], order[4:]])

    assert len(list(_epoch_batches(source, None, generator))) == 3
    assert len(list(_epoch_batches(source, 2, generator))) == 2
    longer = list(_epoch_batches(source, 7, generator))
    assert len(longer) == 7 and sorted(torch.cat(longer[:3]).tolist()) == [0, 1, 2, 3, 4]
    assert list(_epoch_batches(lambda gen: iter([]), 4, generator)) == []


# ---------------------------------------------------------------------------------------
# torch.distributed: 2 CPU processes (gloo) == 1 process
# ---------------------------------------------------------------------------------------
def _torchrun(
    what: str, folder: Path, shards: list[pd.DataFrame], *args: str, device: str = "cpu"
) -> None:
    """Run tests/_distributed_worker.py on 2 gloo processes, shard i on rank i; with
    ``device="cuda"`` both processes fit on the one GPU (gloo moves the collectives'
    tensors through the CPU)."""
    (folder / "shards").mkdir()
    for i, shard in enumerate(shards):
        shard.to_parquet(folder / "shards" / f"part{i}.parquet")
    worker = Path(__file__).with_name("_distributed_worker.py")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-port", str(29500 + os.getpid() % 1000), str(worker), what, str(folder)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYBRIDGEN_TEST_DEVICE": device}
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-6000:]


def test_a_group_of_one_trains_under_ddp_as_without_a_group(tmp_path, monkeypatch):
    """Inside a process group the networks train under DistributedDataParallel; in a
    group of one that changes nothing. A CPU fit in an nccl group is refused, naming
    the device parameter."""
    frame = _table(200, seed=3)
    settings = {"epochs": 2, "batch_size": 50, "device": "cpu", "random_state": 0}
    alone = VAEGAN(**VAEGAN._quick_params | settings).fit(frame)
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        grouped = VAEGAN(**VAEGAN._quick_params | settings).fit(frame)
        monkeypatch.setattr(torch.distributed, "get_backend", lambda *args: "nccl")
        with pytest.raises(hybridgen.InvalidParameterError, match="'device'.*'cpu'.*nccl"):
            VAEGAN(**VAEGAN._quick_params | settings).fit(frame)
    finally:
        monkeypatch.undo()
        torch.distributed.destroy_process_group()
    assert alone.history_[-1]["train_loss"] == grouped.history_[-1]["train_loss"]
    for key, value in alone.module_.state_dict().items():
        assert torch.equal(value, grouped.module_.state_dict()[key]), key


ON_CPU_AND_GPU = pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, requires_cuda])]
)


@pytest.mark.slow
@ON_CPU_AND_GPU
def test_two_processes_fit_the_mixture_one_process_fits(tmp_path, device):
    frame = _table(1200, seed=5)
    a, b = _parts(frame, [500])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    images = {
        "X": np.clip(rng.normal(0.3 + 0.2 * y[:, None, None], 0.1, (300, 4, 4)), 0, 1),
        "y": y,
        "part": np.where(y == 2, 0, rng.integers(0, 2, 300)),  # class 2 on rank 0 only
        **_given_init(3, 16, "diag"),
    }
    np.savez(tmp_path / "images.npz", **images)
    _torchrun("gmm", tmp_path, [a, b], device=device)
    settings = {"n_components": 3, "random_state": 0, "device": "cpu", "max_iter": 40, "tol": 0.0}
    single = _quiet_fit(GaussianMixture(**settings), Chunks([a, b]))  # starts from chunk a
    for name in ("in_memory.hg", "chunks.hg"):
        _assert_same_fit(hybridgen.load(tmp_path / name), single, rtol=1e-8)
    given = {k: images[k] for k in ("weights_init", "means_init", "precisions_init")}
    order = np.argsort(images["part"], kind="stable")  # rank 0's rows, then rank 1's
    labelled = GaussianMixture(covariance_type="diag", **settings | given)
    labelled = _quiet_fit(labelled, images["X"][order], images["y"][order])
    two = hybridgen.load(tmp_path / "images.hg")
    np.testing.assert_array_equal(two.classes_, [0, 1, 2])
    for name in ("weights_", "means_", "covariances_", "discrete_probs_"):
        np.testing.assert_allclose(getattr(two, name), getattr(labelled, name), rtol=1e-8)


def test_a_process_without_rows_stops_every_process(tmp_path):
    _torchrun("errors", tmp_path, [_table(50)])  # one Parquet file, two processes
    messages = [(tmp_path / f"raised-{rank}").read_text() for rank in (0, 1)]
    assert "holds no rows" in messages[1] and "Another process" in messages[0]


@pytest.mark.slow
@ON_CPU_AND_GPU
def test_two_processes_train_the_vae_as_well_as_one(tmp_path, device):
    """At equal epochs, the VAE trained on 2 processes under DistributedDataParallel
    (each on half of the rows, the mean gradient at every step) scores held-out rows
    within the seed-to-seed noise of the one-process fit; the VAEGAN trains to a finite
    score."""
    frame, held_out = _table(1600, seed=6), _table(1000, seed=7)
    epochs = 30
    _torchrun("neural", tmp_path, _parts(frame, [800]), str(epochs), device=device)
    settings = {"epochs": epochs, "batch_size": 50, "device": "cpu", "hidden_dims": (32,)}
    torch.set_num_threads(1)
    single = [
        hybridgen.VAE(**settings, latent_dim=4, random_state=seed).fit(frame).score(held_out)
        for seed in (0, 1, 2)
    ]
    for rank in (0, 1):  # every neural fit trains under DDP (the worker checks that the
        # processes end with the same weights)
        assert (tmp_path / f"data-parallel-{rank}").read_text() == "VAE,VAEGAN,VAEGAN,VAEGAN,VAE"
    two = hybridgen.load(tmp_path / "vae.hg")
    assert two.n_epochs_ == epochs
    noise = max(single) - min(single)
    assert abs(two.score(held_out) - np.mean(single)) <= max(2 * noise, 0.05), (two, single)
    assert np.isfinite(hybridgen.load(tmp_path / "vaegan.hg").score(held_out))
    conditional = hybridgen.load(tmp_path / "vae_conditional.hg")
    north = conditional.sample(20, conditions={"city": "north"}, random_state=0)
    assert (north["city"] == "north").all() and np.isfinite(conditional.score(held_out))


@pytest.mark.gpu
@requires_cuda
def test_collectives_on_the_nccl_backend(tmp_path):
    """On a GPU machine, hybridgen's collectives work on nccl (one process per GPU)."""
    n_gpus = torch.cuda.device_count()
    worker = Path(__file__).with_name("_distributed_worker.py")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n_gpus)]
    command += ["--master-port", str(29500 + os.getpid() % 1000), str(worker), "nccl"]
    done = subprocess.run([*command, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-6000:]
    assert len(list(tmp_path.glob("nccl-ok-*"))) == n_gpus

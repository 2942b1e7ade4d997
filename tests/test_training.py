"""The shared training engine: determinism, NaN guard, Ctrl-C, early stopping, callbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hybridgen import VAE, load
from hybridgen.callbacks import Callback, Checkpoint, EarlyStopping
from hybridgen.exceptions import HybridgenWarning, InvalidParameterError, NumericalError
from hybridgen.training import TrainingState


def small_vae(**extra):
    params = {"epochs": 4, "batch_size": 32, "latent_dim": 2, "hidden_dims": (16,), "device": "cpu"}
    return VAE(**{**params, "random_state": 0, **extra})


class Poison(Callback):
    """Sets every weight to NaN after the first step of ``epoch``."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_batch_end(self, state: TrainingState) -> None:
        if state.epoch == self.epoch:
            with torch.no_grad():
                for p in state.model.module_.parameters():
                    p.fill_(math.nan)


class Interrupt(Callback):
    def on_epoch_begin(self, state: TrainingState) -> None:
        if state.epoch == 3:
            raise KeyboardInterrupt


class Snapshots(Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def on_train_begin(self, state: TrainingState) -> None:
        self.states = []

    def on_epoch_end(self, state: TrainingState) -> None:
        self.states.append({k: v.clone() for k, v in state.model.module_.state_dict().items()})


def test_same_seed_same_weights_bit_for_bit(mixed_frame):
    a, b = small_vae().fit(mixed_frame), small_vae().fit(mixed_frame)
    for (name, x), y in zip(
        a.module_.state_dict().items(), b.module_.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    c = small_vae(random_state=1).fit(mixed_frame)
    assert c.history_[-1]["train_loss"] != a.history_[-1]["train_loss"]


def test_global_rng_untouched(mixed_frame, tmp_path):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    small_vae().fit(mixed_frame).sample(5)
    small_vae(random_state=None).fit(mixed_frame).sample(5)
    path = tmp_path / "vae.hg"
    small_vae().fit(mixed_frame).save(path)
    torch_state = torch.get_rng_state()
    load(path)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()  # noqa: NPY002


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_weights(mixed_frame):
    vae = small_vae(callbacks=[Poison(epoch=3)])
    with pytest.raises(NumericalError, match="non-finite at epoch 3.*learning_rate"):
        vae.fit(mixed_frame)
    assert len(vae.history_) == 2
    assert all(torch.isfinite(p).all() for p in vae.module_.parameters())
    assert np.isfinite(vae.score(mixed_frame))


def test_interrupt_leaves_a_usable_fitted_model(mixed_frame):
    vae = small_vae(epochs=10, callbacks=[Interrupt()])
    with pytest.warns(HybridgenWarning, match="interrupted at epoch 3"):
        vae.fit(mixed_frame)
    assert len(vae.history_) == 2
    assert vae.sample(4).shape == (4, mixed_frame.shape[1])
    assert np.isfinite(vae.score(mixed_frame))


def test_early_stopping_restores_best_validation_weights(mixed_frame):
    snaps = Snapshots()
    vae = small_vae(
        epochs=30, early_stopping=True, n_iter_no_change=2, learning_rate=0.05, callbacks=[snaps]
    )
    vae.fit(mixed_frame)
    losses = [h["valid_loss"] for h in vae.history_]
    best = int(np.argmin(losses))
    for name, value in vae.module_.state_dict().items():
        assert torch.equal(value, snaps.states[best][name]), name
    if len(losses) < 30:  # stopped early: the last n_iter_no_change epochs did not improve
        assert min(losses[-2:]) >= losses[best]


def test_early_stopping_callback_counts_patience():
    cb = EarlyStopping(patience=2)
    state = TrainingState(model=None, epochs=10)
    cb.on_train_begin(state)
    for value in [3.0, 2.0, 2.5, 2.4]:
        state.history.append({"valid_loss": value})
        cb.on_epoch_end(state)
    assert state.stop


def test_checkpoint_writes_a_loadable_model(mixed_frame, tmp_path):
    path = tmp_path / "best.hg"
    small_vae(callbacks=[Checkpoint(path)]).fit(mixed_frame)  # "auto": train_loss here
    assert np.isfinite(load(path).score(mixed_frame))


def test_callbacks_watch_train_loss_without_validation_and_name_missing_keys(mixed_frame):
    vae = small_vae(epochs=4, callbacks=[EarlyStopping(patience=10)]).fit(mixed_frame)
    assert vae.n_epochs_ == 4  # not stopped by NaN comparisons
    with pytest.raises(InvalidParameterError, match="monitors 'valid_loss'.*early_stopping=True"):
        small_vae(callbacks=[EarlyStopping(monitor="valid_loss")]).fit(mixed_frame)


def test_history_is_plain_data(mixed_frame):
    vae = small_vae(verbose=0).fit(mixed_frame)
    record = vae.history_[0]
    assert {"epoch", "train_loss", "kl", "reconstruction", "seconds"} <= set(record)
    assert all(isinstance(v, float) for v in record.values())
    assert vae.n_epochs_ == 4


def test_flush_denormals_is_scoped():
    from hybridgen.training import flush_denormals

    tiny = torch.tensor([1e-39], dtype=torch.float32)
    assert (tiny * 1.0).item() != 0.0
    with flush_denormals():
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() != 0.0

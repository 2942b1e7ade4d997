"""``make demo``: fit each estimator on built-in data, then sample, score, save and load.

Run with ``python -m hybridgen.demo``. Uses no download and a few seconds of CPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import hybridgen
from hybridgen.base import bits_per_dim
from hybridgen.datasets import load_digits_images, make_mixed_table

#: settings for a demo of a few seconds per model on two CPU cores
DEMO_PARAMS: dict[str, dict[str, Any]] = {
    "GaussianMixture": {"n_components": 10},
    "VAE": {"epochs": 60, "latent_dim": 16, "hidden_dims": (128, 128), "batch_size": 100},
    "VAEGAN": {
        "epochs": 30,
        "latent_dim": 16,
        "hidden_dims": (128, 128),
        "discriminator_dims": (64, 64),
        "batch_size": 100,
    },
}


def main() -> None:
    table = make_mixed_table(2000, random_state=0)
    train, test = table.iloc[:1500], table.iloc[1500:]
    images, _ = load_digits_images()
    image_train, image_test = images[:1500], images[1500:]
    print(f"hybridgen {hybridgen.__version__}: built-in data")
    print(
        f"  table  {train.shape[0]} train / {test.shape[0]} test rows, columns: "
        + ", ".join(f"{c} ({t})" for c, t in train.dtypes.astype(str).items())
    )
    print(f"  images {image_train.shape} {image_train.dtype} (scikit-learn's 8x8 digits)")
    with tempfile.TemporaryDirectory() as tmp:
        for cls in hybridgen.all_estimators():
            for name, fit_data, held_out in (
                ("table", train, test),
                ("images", image_train, image_test),
            ):
                model = cls(**{**cls._quick_params, **DEMO_PARAMS[cls.__name__], "random_state": 0})
                start = time.perf_counter()
                model.fit(fit_data)
                seconds = time.perf_counter() - start
                ll = model.score(held_out)
                path = Path(tmp) / f"{cls.__name__}-{name}.hg"
                model.save(path)
                same = hybridgen.load(path).score(held_out) == ll
                extra = ""
                if name == "images":
                    extra = f" = {bits_per_dim(ll, held_out[0].size):.3f} bits/dim"
                reloaded = "identical" if same else "DIFFERENT"
                print(
                    f"\n{cls.__name__} on {name}: fit in {seconds:.2f} s, held-out log-likelihood "
                    f"{ll:.3f} nats/row{extra}; saved and reloaded: {reloaded}"
                )
                sample = model.sample(5, random_state=1)
                if name == "table":
                    print(sample.to_string(max_cols=10))
                else:
                    print(
                        f"  sampled {sample.shape} {sample.dtype}, pixel mean {sample.mean():.1f} "
                        f"(real {held_out.mean():.1f})"
                    )


if __name__ == "__main__":
    main()

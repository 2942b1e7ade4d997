"""Small adapters that let the tools users would otherwise pick take part in a comparison.

Each adapter is a scikit-learn estimator with ``fit(X)`` and ``sample(n_samples, *,
random_state=None)`` on the same data as hybridgen's own estimators (a DataFrame, a
2-D numeric array, or images), returning data of the kind fitted:

:class:`SklearnGaussianMixture`
    ``sklearn.mixture.GaussianMixture`` on hybridgen's standard encoding (numeric
    columns standardised, categoricals one-hot, read back by argmax). It has a
    likelihood, in the same original units as hybridgen's ``score``, only where a
    Gaussian density is a model of the data: numeric arrays and tables without
    categorical or missing cells, and images (uint8 pixels dequantised for fitting, as
    hybridgen's GaussianMixture does). Elsewhere ``score`` raises
    ``NotImplementedError``.
:class:`CTGANSynthesizer`, :class:`TVAESynthesizer`
    The SDV project's CTGAN and TVAE (the ``ctgan`` package, an optional extra) on
    tables and numeric arrays. They have no likelihood.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .base import resolve_device
from .exceptions import DataValidationError, HybridgenError
from .metrics import is_numeric
from .transform import ImageTransformer, dequantize, make_transformer

__all__ = ["CTGANSynthesizer", "SklearnGaussianMixture", "TVAESynthesizer"]


def _shuffled(rows: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    return rows[rng.permutation(len(rows))]


class SklearnGaussianMixture(BaseEstimator):
    """scikit-learn's ``GaussianMixture`` on any data hybridgen accepts.

    Parameters
    ----------
    n_components, covariance_type, max_iter, n_init, reg_covar
        Passed to ``sklearn.mixture.GaussianMixture``.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    transformer_ : TabularTransformer or ImageTransformer
        The standard encoding the mixture is fitted on.
    mixture_ : sklearn.mixture.GaussianMixture
    has_likelihood_ : bool
        Whether ``score`` is a density of the data (no categorical or missing cells).
    """

    def __init__(
        self,
        *,
        n_components: int = 10,
        covariance_type: str = "full",
        max_iter: int = 100,
        n_init: int = 1,
        reg_covar: float = 1e-6,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SklearnGaussianMixture:
        """Encode ``X`` and fit the mixture to it. Returns ``self``."""
        from sklearn.mixture import GaussianMixture

        self.transformer_ = make_transformer(X, numeric="standard").fit(X)
        rng = check_random_state(self.random_state)
        encoded = dequantize(self.transformer_, self.transformer_.transform(X), rng)
        self.mixture_ = GaussianMixture(**{**self.get_params(), "random_state": rng}).fit(encoded)
        self.has_likelihood_ = isinstance(self.transformer_, ImageTransformer) or all(
            span.kind == "continuous" for span in self.transformer_.layout_
        )
        return self

    def sample(self, n_samples: int = 1, *, random_state: Any = None) -> Any:
        """``n_samples`` rows (or images) of the kind fitted, in random order."""
        check_is_fitted(self)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        mixture = copy.copy(self.mixture_)
        mixture.random_state = rng
        encoded = _shuffled(mixture.sample(n_samples)[0], rng)  # sklearn sorts by component
        return self.transformer_.inverse_transform(encoded)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density of each row in original units, shape (n_samples,)."""
        check_is_fitted(self)
        if not self.has_likelihood_:
            raise NotImplementedError(
                "scikit-learn's GaussianMixture has no likelihood for categorical or missing "
                "cells; hybridgen.GaussianMixture models them exactly."
            )
        encoded = self.transformer_.transform(X)
        return self.mixture_.score_samples(encoded) + self.transformer_.log_abs_det_jacobian(
            encoded
        )

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-density per row in original units (nats)."""
        return float(np.mean(self.score_samples(X)))


_SDV_PARAMETERS = """
    Parameters
    ----------
    epochs : int, default=300
    batch_size : int, default=500
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int or None, default=None
"""


class _SdvSynthesizer(BaseEstimator):
    """``fit``/``sample`` around a synthesizer of the ``ctgan`` package."""

    _class_name = ""

    def __init__(
        self,
        *,
        epochs: int = 300,
        batch_size: int = 500,
        device: str = "auto",
        random_state: Any = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> _SdvSynthesizer:
        """Fit the SDV model on a DataFrame or a 2-D numeric array. Returns ``self``."""
        try:
            import ctgan
        except ImportError as exc:
            raise HybridgenError(
                f"{type(self).__name__} needs the 'ctgan' package, which needs pandas < 3: "
                "install hybridgen[bench] in an environment of its own (make bench builds "
                ".venv-bench)."
            ) from exc
        if isinstance(X, np.ndarray) and X.ndim != 2:
            raise DataValidationError(
                f"{type(self).__name__} models tables and 2-D arrays; got an array of shape "
                f"{X.shape}."
            )
        self.fitted_on_array_ = not isinstance(X, pd.DataFrame)
        if isinstance(X, pd.DataFrame):
            frame = X
        else:
            array = np.asarray(X, dtype=np.float64)
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        discrete = [c for c in frame.columns if not is_numeric(frame[c])]
        gpu = resolve_device(self.device).type == "cuda"
        self.model_ = getattr(ctgan, self._class_name)(
            epochs=self.epochs, batch_size=self.batch_size, enable_gpu=gpu
        )
        if self.random_state is not None:
            self.model_.set_random_state(int(check_random_state(self.random_state).randint(2**31)))
        self.model_.fit(frame, discrete_columns=discrete)
        return self

    def sample(self, n_samples: int = 1, *, random_state: Any = None) -> Any:
        """``n_samples`` rows of the kind fitted."""
        check_is_fitted(self)
        if random_state is not None:
            self.model_.set_random_state(int(check_random_state(random_state).randint(2**31)))
        rows = self.model_.sample(n_samples)
        return rows.to_numpy(dtype=np.float64) if self.fitted_on_array_ else rows


class CTGANSynthesizer(_SdvSynthesizer):
    __doc__ = "The SDV project's CTGAN (``ctgan.CTGAN``) with hybridgen's fit/sample.\n"
    __doc__ += _SDV_PARAMETERS
    _class_name = "CTGAN"


class TVAESynthesizer(_SdvSynthesizer):
    __doc__ = "The SDV project's TVAE (``ctgan.TVAE``) with hybridgen's fit/sample.\n"
    __doc__ += _SDV_PARAMETERS
    _class_name = "TVAE"

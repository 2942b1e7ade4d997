"""hybridgen: unsupervised generative models behind one scikit-learn API."""

from .augment import augment
from .base import GenerativeModel, bits_per_dim, load
from .chunks import Chunks
from .exceptions import (
    ConvergenceWarning,
    DataValidationError,
    HybridgenError,
    HybridgenWarning,
    InvalidParameterError,
    ModelFormatError,
    NotFittedError,
    NumericalError,
    UnseenCategoryWarning,
)
from .gmm import GaussianMixture
from .vae import VAE
from .vaegan import VAEGAN

__version__ = "0.1.0.dev0"

__all__ = [
    "Chunks",
    "ConvergenceWarning",
    "DataValidationError",
    "GaussianMixture",
    "GenerativeModel",
    "HybridgenError",
    "HybridgenWarning",
    "InvalidParameterError",
    "ModelFormatError",
    "NotFittedError",
    "NumericalError",
    "UnseenCategoryWarning",
    "VAE",
    "VAEGAN",
    "__version__",
    "all_estimators",
    "augment",
    "bits_per_dim",
    "load",
]


def all_estimators() -> list[type[GenerativeModel]]:
    """The public estimator classes, in a stable order (used by the contract tests and demo)."""
    return [GaussianMixture, VAE, VAEGAN]

"""Exceptions and warnings raised by hybridgen.

Every error hybridgen raises on purpose derives from :class:`HybridgenError`, so a
caller can catch them all at once, and also from the built-in type that
scikit-learn users already catch (``ValueError``, ``TypeError``)::

    HybridgenError (Exception)
    ├── InvalidParameterError (ValueError, TypeError)   a constructor argument is wrong
    ├── DataValidationError (ValueError, TypeError)     the data passed to a method is wrong
    ├── NotFittedError (sklearn.exceptions.NotFittedError)
    ├── NumericalError (ArithmeticError)                 the fit diverged or became singular
    └── ModelFormatError (ValueError)                    a saved model cannot be read

    HybridgenWarning (UserWarning)
    ├── ConvergenceWarning (sklearn.exceptions.ConvergenceWarning)
    └── UnseenCategoryWarning                            a value unknown at fit time was scored
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "ConvergenceWarning",
    "DataValidationError",
    "HybridgenError",
    "HybridgenWarning",
    "InvalidParameterError",
    "ModelFormatError",
    "NotFittedError",
    "NumericalError",
    "UnseenCategoryWarning",
]


class HybridgenError(Exception):
    """Base class of every error hybridgen raises on purpose."""


class InvalidParameterError(HybridgenError, ValueError, TypeError):
    """A constructor argument has a wrong type or value (checked at the top of ``fit``)."""


class DataValidationError(HybridgenError, ValueError, TypeError):
    """The data given to ``fit``, ``score``, ``transform``... cannot be used as it is."""


class NotFittedError(HybridgenError, _SklearnNotFittedError):
    """An inference method was called before ``fit``."""


class NumericalError(HybridgenError, ArithmeticError):
    """The computation became singular or non-finite; the message says what to change."""


class ModelFormatError(HybridgenError, ValueError):
    """A file given to ``load`` is not a hybridgen model this version can read."""


class HybridgenWarning(UserWarning):
    """Base class of hybridgen's warnings."""


class ConvergenceWarning(HybridgenWarning, _SklearnConvergenceWarning):
    """The fit stopped at ``max_iter`` before reaching ``tol``."""


class UnseenCategoryWarning(HybridgenWarning):
    """A category not seen at fit time was met; its rows are scored as impossible."""

"""Toxicity classifier backends.

Each backend implements :class:`classifiers.base.Classifier`: a batch of texts
in, one ``{category: probability}`` mapping per text out. Probabilities are the
backend's own, unmodified. :func:`classifiers.loader.load_preferred` turns the
``MODERATION_CLASSIFIER`` preference list into the first backend that loads.
"""

from classifiers.base import Classifier, ClassifierLoadError, Scores

__all__ = ["Classifier", "ClassifierLoadError", "Scores"]

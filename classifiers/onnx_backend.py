"""The ONNX Runtime backend's former single module, kept for its callers.

The backend now lives in :mod:`classifiers.onnx`, by topic: the session
(:mod:`classifiers.onnx.session`), the export and its cache
(:mod:`classifiers.onnx.export`) and the classifier (:mod:`classifiers.onnx.runtime`).
This module only re-exports their public names.
"""

from __future__ import annotations

from classifiers.onnx.export import EXPORT_VERSION, cache_digest, file_sha256
from classifiers.onnx.runtime import OnnxDetoxifyClassifier
from classifiers.onnx.session import OnnxUnavailable, session_options

__all__ = [
    "EXPORT_VERSION",
    "OnnxDetoxifyClassifier",
    "OnnxUnavailable",
    "cache_digest",
    "file_sha256",
    "session_options",
]

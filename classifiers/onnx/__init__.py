"""ONNX Runtime for the Detoxify checkpoints, by topic.

* :mod:`classifiers.onnx.session`: importing onnxruntime, the session options, running
  padded rows of token ids through a session;
* :mod:`classifiers.onnx.export`: exporting a checkpoint to ONNX, int8 quantisation,
  the probe-text checks against PyTorch, the export cache and its digest, atomic writes;
* :mod:`classifiers.onnx.recipes`: how a graph runs (fp32, dynamic or static int8, a
  fusion off, OpenVINO) and ``auto``'s choice of the fastest faithful one per machine;
* :mod:`classifiers.onnx.runtime`: :class:`~classifiers.onnx.runtime.OnnxDetoxifyClassifier`,
  the backend itself.

:mod:`classifiers.onnx_backend` re-exports the public names, for its callers.
"""

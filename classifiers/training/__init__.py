"""Training and evaluation of the ``minilm`` classifier's heads (offline tooling).

* ``python -m classifiers.training.train_heads`` fits one logistic head per category on
  ``data/train/*.jsonl`` and writes ``classifiers/heads/minilm.json``, with thresholds
  suggested from out-of-fold predictions on the training data;
* ``python -m classifiers.training.evaluate`` measures ``minilm`` and ``linear`` on the
  held-out ``data/eval/*.jsonl`` and writes ``REPORT.md``.

``data/LABELLING.md`` describes the data. Nothing here runs in the service.
"""

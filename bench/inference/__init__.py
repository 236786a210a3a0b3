"""The pieces of bench/inference_bench.py, by topic (that script is the entry point).

* :mod:`inference.corpus`: the news-comment-length texts it posts;
* :mod:`inference.servers`: the configurations measured and the server processes it starts;
* :mod:`inference.load`: the load generator (closed and open loop), the CPU accounting
  and the quietest-of-several-attempts rule;
* :mod:`inference.inprocess`: the in-process measurements, fidelity and the cascade;
* :mod:`inference.report`: the environment, the targets, the Markdown report and the plot.

Imported with ``bench/`` (and the repository root) on ``sys.path``, as the script sets it.
"""

from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parents[2]

"""The naive baseline of bench/inference_bench.py: Detoxify.predict per request, in the handler.

What a first version of a moderation endpoint usually looks like: an aiohttp app whose
handler calls ``Detoxify(...).predict(text)`` directly, one comment at a time, on the
event loop (which it blocks while the model runs), with PyTorch's default threads. It
stores nothing. The model is loaded the offline way (docs/classifiers.md) and put into a
``Detoxify`` object, so ``predict`` is Detoxify's own.

    .venv/bin/python bench/naive_server.py --port 8090 --checkpoint C --config DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_app(checkpoint: Path, config_dir: Path) -> web.Application:
    from detoxify import Detoxify

    from classifiers.detoxify_backend import load_detoxify

    loaded = load_detoxify("original", checkpoint=checkpoint, config_dir=config_dir)
    detox = Detoxify.__new__(Detoxify)  # Detoxify's loader would ask the hub for the config
    detox.model, detox.tokenizer, detox.class_names = loaded.model, loaded.tokenizer, loaded.classes
    detox.device = "cpu"

    async def comment(request: web.Request) -> web.Response:
        body = await request.json()
        scores = detox.predict(body["text"])  # blocks the event loop, as naive code does
        return web.json_response({"id": body["id"], "scores": scores}, status=201)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.post("/v1/comments", comment), web.get("/healthz", healthz)])
    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    web.run_app(
        build_app(args.checkpoint, args.config),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

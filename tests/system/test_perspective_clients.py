"""Other people's Perspective clients, unchanged, against a real service process.

Each client runs in a process of its own, as its users run it, pointed at the service
the way its own code allows (a documented setting, or the one URL its source holds
swapped for ours): Google's ``googleapiclient`` from the discovery document, PyPI's
``perspective`` (Conway), ``pyperspective`` and ``perspectiveapi`` (thrzl), and npm's
``perspective-api-client`` (sloria). The service runs the ``linear`` classifier, which
reports ``TOXICITY``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT, cli_env, create_key, start_service

CLIENTS = ROOT / ".venv" / "clients"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, site key) of a service process."""
    env = cli_env(tmp_path_factory.mktemp("perspective-clients"))
    key = create_key(env, "site", "clients")
    process, url = start_service(env)
    try:
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_client(script: str, *args: str, path: Path | None = None) -> Any:
    """Run ``script`` in a new Python; it prints one JSON value last."""
    command = [sys.executable, "-c", script, *args]
    env_path = [] if path is None else [str(path)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": ":".join(env_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


GOOGLEAPICLIENT = """
import json, sys
from googleapiclient import discovery, errors
url, key = sys.argv[1:3]
client = discovery.build(
    "commentanalyzer", "v1alpha1", developerKey=key,
    discoveryServiceUrl=url + "/$discovery/rest?version=v1alpha1", static_discovery=False,
)
analyzed = client.comments().analyze(body={
    "comment": {"text": "You are an idiot and everyone knows it."},
    "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True,
}).execute()
suggested = client.comments().suggestscore(body={
    "comment": {"text": "You are an idiot and everyone knows it."},
    "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
    "communityId": "news", "clientToken": "comment:1",
}).execute()
try:
    client.comments().analyze(
        body={"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}
    ).execute()
except errors.HttpError as error:
    failed = {"status": error.status_code, "reason": error.reason, "details": error.error_details}
print(json.dumps({"analyzed": analyzed, "suggested": suggested, "failed": failed}))
"""


def test_googles_own_client_from_the_discovery_document(live: tuple[str, str]) -> None:
    url, key = live
    result = run_client(GOOGLEAPICLIENT, url, key)
    toxicity = result["analyzed"]["attributeScores"]["TOXICITY"]
    assert 0 <= toxicity["summaryScore"]["value"] <= 1
    assert toxicity["spanScores"][0]["begin"] == 0
    assert result["analyzed"]["detectedLanguages"] == ["en"]
    assert result["suggested"]["clientToken"] == "comment:1"
    assert result["failed"]["status"] == 400
    assert result["failed"]["reason"] == "Comment must be non-empty."
    assert result["failed"]["details"][0]["errorType"] == "COMMENT_EMPTY"


CONWAY = """
import json, sys
from perspective import PerspectiveAPI
url, key = sys.argv[1:3]
client = PerspectiveAPI(key)
client.api_client.url = url + "/v1alpha1/{endpoint}"  # the one URL its source holds
scores = client.score("what kind of idiot name is foo?", ["TOXICITY"])
suggested = client.suggest_score(
    "what kind of idiot name is foo?", {"TOXICITY": {"summaryScore": {"value": 1.0}}}
)
print(json.dumps({"scores": scores, "suggested": suggested}))
"""


def test_pypi_perspective(live: tuple[str, str]) -> None:
    url, key = live
    result = run_client(CONWAY, url, key)
    assert 0 <= result["scores"]["TOXICITY"] <= 1
    assert result["suggested"]["detectedLanguages"] == ["en"]


PYPERSPECTIVE = """
import json, sys
import PyPerspective.Perspective as P
url, key, bad = sys.argv[1:4]
P.base_url = url + "/v1alpha1/comments:analyze"  # the module's one URL
client = P.Perspective(key)  # probes the key with an empty POST, reads error.details
comment = client.get_score("You idiot. Go away!", tests=["TOXICITY"], langs=["en"])
toxicity = comment["toxicity"]
spans = [(span.start, span.end) for span in toxicity.spans]
try:
    P.Perspective(bad)
    refused = None
except Exception as error:
    refused = type(error).__name__
print(json.dumps({
    "score": toxicity.score, "spans": spans, "languages": comment.requests_langs,
    "detected": comment.detected_langs, "refused": refused,
}))
"""


def test_pyperspective(live: tuple[str, str]) -> None:
    url, key = live
    result = run_client(PYPERSPECTIVE, url, key, "AIzaSy-not-ours")
    assert 0 <= result["score"] <= 1
    assert result["spans"] == [[0, 19]]  # the whole comment, as Google answers unasked
    assert result["languages"] == ["en"] and result["detected"] == ["en"]
    assert result["refused"] is not None  # a bad key is recognised as one


PERSPECTIVEAPI = """
import asyncio, json, sys
from urllib.parse import urlsplit
import httpx
from perspective import Attribute, Perspective, blocking
url, key = sys.argv[1:3]
target = urlsplit(url)

def ours(request):
    return request.url.copy_with(scheme=target.scheme, host=target.hostname, port=target.port)

class Sync(httpx.HTTPTransport):
    def handle_request(self, request):
        request.url = ours(request)
        return super().handle_request(request)

class Async(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request):
        request.url = ours(request)
        return await super().handle_async_request(request)

client = blocking.Perspective(key=key)
client._Perspective__client = httpx.Client(transport=Sync())  # its URL is a literal
score = client.score("what kind of idiot name is foo?", attributes=[Attribute.TOXICITY])

async def main():
    client = Perspective(key=key)
    client._Perspective__client = httpx.AsyncClient(transport=Async())
    return (await client.score("hi there", attributes=[Attribute.TOXICITY])).toxicity

print(json.dumps({"sync": score.toxicity, "async": asyncio.run(main())}))
"""


def test_perspectiveapi(live: tuple[str, str]) -> None:
    folder = CLIENTS / "perspectiveapi"
    if not (folder / "perspective").is_dir():
        pytest.skip("perspectiveapi is not installed in .venv/clients (make clients)")
    url, key = live
    result = run_client(PERSPECTIVEAPI, url, key, path=folder)
    assert 0 <= result["sync"] <= 1 and 0 <= result["async"] <= 1


NPM = """
const axios = require('axios');
const [url, key] = process.argv.slice(1);  // node -e: no script path
axios.interceptors.request.use(config => {
  config.url = config.url.replace('https://commentanalyzer.googleapis.com', url);
  return config;
});
const Perspective = require('perspective-api-client');
const client = new Perspective({apiKey: key});
(async () => {
  const analyzed = await client.analyze('what kind of idiot name is foo?');
  let refused = null;
  try {
    await new Perspective({apiKey: 'AIzaSy-not-ours'}).analyze('hello');
  } catch (error) {
    refused = error.message;
  }
  console.log(JSON.stringify({analyzed, refused}));
})();
"""


def test_npm_perspective_api_client(live: tuple[str, str]) -> None:
    modules = CLIENTS / "npm" / "node_modules"
    node = shutil.which("node")
    if node is None or not (modules / "perspective-api-client").is_dir():
        pytest.skip("Node.js or npm's perspective-api-client is missing (make clients)")
    url, key = live
    result = subprocess.run(
        [node, "-e", NPM, url, key],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CLIENTS / "npm",
        env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    toxicity = answer["analyzed"]["attributeScores"]["TOXICITY"]
    assert 0 <= toxicity["summaryScore"]["value"] <= 1
    assert answer["analyzed"]["detectedLanguages"] == ["en"]  # it sends no languages
    assert answer["refused"] == "API key not valid. Please pass a valid API key."

"""The README's walk-through, run as a reader would: its marked shell blocks, in order,
in one bash session, against a real service process on the offline default classifier
(``minilm``), with real keys in place of ``site_...``, ``mod_...`` and ``adm_...``.

Every request must succeed (below 400), and each ``# → [status] {json}`` line under a
command is the documented answer: its JSON must be part of what that command answered
(objects: these members, recursively; lists: each documented item matches one answered).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import ROOT, cli_env, create_key, free_port, wait_healthy

README = ROOT / "README.md"
BLOCK = re.compile(r"^<!-- walkthrough[^\n]*-->\n```sh\n(.*?)^```", re.M | re.S)
ANSWER = re.compile(r"^# → (?:(\d{3})\s*)?(.*)$")
#: In place of every ``curl``: each request's status and body are kept, numbered.
PRELUDE = r"""
set -euo pipefail
echo 0 > "$OUT/n"
curl() {
  local n=$(( $(cat "$OUT/n") + 1 ))
  echo "$n" > "$OUT/n"
  command curl -sS -o "$OUT/$n.body" -w '%{http_code}' "$@" > "$OUT/$n.status"
  cat "$OUT/$n.body"
}
"""


@dataclass(frozen=True, slots=True)
class Answer:
    """A documented answer: the status, or part of the JSON body, of the request before it."""

    line: str
    status: int | None
    body: object


def walkthrough(text: str) -> list[str]:
    """The README's marked shell blocks, in order."""
    return [match.group(1) for match in BLOCK.finditer(text)]


def script(blocks: list[str]) -> tuple[str, list[Answer]]:
    """One bash script of the blocks; each answer line records which request it follows."""
    lines, answers = [PRELUDE], []
    for block in blocks:
        for line in block.splitlines():
            found = ANSWER.match(line)
            if found is None:
                lines.append(line)
                continue
            status, body = found.groups()
            answers.append(
                Answer(line, int(status) if status else None, json.loads(body) if body else None)
            )
            lines.append('cat "$OUT/n" >> "$OUT/answers"')
    return "\n".join(lines) + "\n", answers


def contains(answered: object, documented: object) -> bool:
    """Whether ``documented`` is part of ``answered``."""
    if isinstance(documented, dict):
        return isinstance(answered, dict) and all(
            key in answered and contains(answered[key], value) for key, value in documented.items()
        )
    if isinstance(documented, list):
        return isinstance(answered, list) and all(
            any(contains(item, wanted) for item in answered) for wanted in documented
        )
    return answered == documented


def test_the_answer_matcher() -> None:
    answered = {"a": 1, "b": {"c": [{"id": "x", "n": 2}, {"id": "y"}]}, "d": None}
    assert contains(answered, {"b": {"c": [{"id": "y"}, {"id": "x", "n": 2}]}, "d": None})
    assert not contains(answered, {"b": {"c": [{"id": "z"}]}})
    assert not contains(answered, {"a": 2}) and not contains(answered, {"e": 1})
    _, answers = script(['curl x\n# → 201 {"a": 1}\n# → {"b": [2]}\n#   → prose'])
    assert [(a.status, a.body) for a in answers] == [(201, {"a": 1}), (None, {"b": [2]})]


def test_the_readme_marks_its_walkthrough() -> None:
    blocks = walkthrough(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3  # the website, the moderators, the admins
    text = "\n".join(blocks)
    for placeholder in ("KEY=site_...", "MOD=mod_...", "ADM=adm_..."):
        assert placeholder in text
    _, answers = script(blocks)
    assert len(answers) >= 8


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A real service on minilm (the offline default), local webhooks allowed, and keys."""
    env = cli_env(tmp_path) | {
        "MODERATION_CLASSIFIER": "minilm",
        "MODERATION_ENCODER": "minilm",
        "MODERATION_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    }
    keys = {
        "site_...": create_key(env, "site", "www"),
        "mod_...": create_key(env, "moderator", "alice"),
        "adm_...": create_key(env, "admin", "ops"),
    }
    port = free_port()
    with (tmp_path / "service.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "service.py"],
            cwd=ROOT,
            env=env | {"MODERATION_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=600)  # the first start exports the encoder to ONNX
        yield url, keys
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_walkthrough_runs_as_documented(
    service: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, keys = service
    text, answers = script(walkthrough(README.read_text(encoding="utf-8")))
    for placeholder, key in keys.items():
        text = text.replace(placeholder, key)
    text = text.replace("http://127.0.0.1:8080", url)
    receiver = free_port()  # the README's webhook receiver listens on 9000
    text = text.replace("127.0.0.1:9000", f"127.0.0.1:{receiver}")
    text = text.replace('("127.0.0.1", 9000)', f'("127.0.0.1", {receiver})')
    out = tmp_path / "requests"
    out.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "walkthrough.log"
    with log.open("w") as sink:
        run = subprocess.Popen(
            ["bash", "-c", text],
            cwd=work,
            env=os.environ
            | {"OUT": str(out), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its background job (the webhook receiver) is ended with it
        )
    try:
        assert run.wait(timeout=300) == 0, log.read_text()[-3000:]
        # The receiver the README starts prints each delivery: the last comment's arrives.
        deadline = time.monotonic() + 30
        while '"type":"comment.approved","comment":{"id":"c-126"' not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGTERM)
    output = log.read_text()
    assert re.search(r'sha256=[0-9a-f]{64} \{"id":"evt_', output), output[-3000:]
    count = int((out / "n").read_text())
    statuses = {n: int((out / f"{n}.status").read_text()) for n in range(1, count + 1)}
    failed = {n: s for n, s in statuses.items() if s >= 400}
    assert not failed, f"requests that failed: {failed}\n{output[-3000:]}"
    at = [int(n) for n in (out / "answers").read_text().split()]
    assert len(at) == len(answers)
    for n, answer in zip(at, answers, strict=True):
        body = json.loads((out / f"{n}.body").read_text())
        if answer.status is not None:
            assert statuses[n] == answer.status, (answer.line, statuses[n])
        assert contains(body, answer.body), f"{answer.line}\nanswered: {json.dumps(body)}"

"""Command line: ``serve`` (default), ``keys create``, ``score``, ``db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from moderation import logs
from moderation.settings import Settings, SettingsError

log = logging.getLogger("moderation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="service.py", description="Comment moderation service")
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="start the HTTP service (the default)")
    # Set by the supervisor (MODERATION_PROCESSES > 1) on the processes it starts: which
    # one this is, the pipe on which it says it is ready, the supervisor's pid, and
    # whether it answers "loading" on the port while it starts (the first one only).
    serve_parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    serve_parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve_parser.add_argument("--parent", type=int, default=0, help=argparse.SUPPRESS)
    serve_parser.add_argument("--stand-in", action="store_true", help=argparse.SUPPRESS)
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command")
    create = keys.add_parser("create", help="create a key; it is printed once, on the last line")
    create.add_argument("--role", required=True, choices=["site", "moderator", "admin"])
    create.add_argument("--name", required=True)
    create.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests/s for this key across all processes (0: unlimited; default: the role's)",
    )
    create.add_argument(
        "--scope",
        default=None,
        help="the website whose articles, comments, queue and authors the key sees and changes"
        " (a-z, 0-9, '.', '_', '-'; default: the default scope)",
    )
    score = commands.add_parser("score", help="score a text and show the decision; stores nothing")
    score.add_argument("text")
    score.add_argument("--json", action="store_true", help="print JSON")
    score.add_argument("--tag", action="append", default=[], help="an article tag (repeatable)")
    score.add_argument(
        "--classifier",
        default=None,
        help="the classifier preference list for this run (default: MODERATION_CLASSIFIER)",
    )
    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command")
    db.add_parser("upgrade", help="apply all migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    child = getattr(args, "child", None)
    logs.configure(
        settings.log_level, settings.log_format, {"instance": child} if child is not None else None
    )
    if command == "serve":
        if child is not None:
            from moderation.supervisor import die_with_parent

            die_with_parent(args.parent)
            return serve(settings, Child(child, args.ready_fd, args.stand_in))
        if settings.processes > 1:
            return supervise(settings)
        return serve(settings)
    if command == "keys":
        if args.keys_command != "create":
            build_parser().parse_args(["keys", "--help"])
        return asyncio.run(
            create_key(settings, args.role, args.name, args.rate_limit, scope=args.scope)
        )
    if command == "score":
        if args.classifier:
            settings = dataclasses.replace(settings, classifier=args.classifier)
        return asyncio.run(score(settings, args.text, as_json=args.json, tags=args.tag))
    if command == "db":
        return asyncio.run(upgrade(settings))
    return 2


@dataclasses.dataclass(frozen=True, slots=True)
class Child:
    """This process is one of the supervisor's (moderation/supervisor.py)."""

    #: Which one (its log lines say ``instance``).
    index: int
    #: The pipe on which it tells the supervisor it is ready.
    ready_fd: int | None
    #: Whether it answers 503 ``loading`` on the port while it starts.
    stand_in: bool


def serve(settings: Settings, child: Child | None = None) -> int:
    """Serve until SIGINT or SIGTERM. The log says ``starting`` (the port answers 503
    ``loading`` meanwhile: moderation/http/starting.py), ``ready`` once the app accepts
    connections, and ``stopped`` once in-flight requests drained and everything closed.

    ``child``: this is one of the supervisor's processes: it shares the port with the
    others (``SO_REUSEPORT``), answers ``loading`` while it starts only if ``stand_in``,
    drains and stops on the supervisor's death signal too, and once ready writes a byte
    to ``ready_fd``."""
    from classifiers.base import ClassifierLoadError
    from moderation.app import create_app
    from moderation.http import starting
    from moderation.http.server import Hooks, Limits, run
    from moderation.supervisor import PARENT_DEATH_SIGNAL

    log.info(
        "starting on http://%s:%d: loading the classifier; /healthz says loading until ready",
        settings.host,
        settings.port,
    )
    shared = child is not None
    limits = Limits(settings.keepalive_timeout_s, settings.max_connections)
    hooks = Hooks(
        starting=partial(
            starting.stand_in,
            settings.host,
            settings.port,
            settings.classifier,
            reuse_port=shared,
        )
        if child is None or child.stand_in
        else None,
        ready=partial(_ready, child.ready_fd if child else None),
    )
    try:
        run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=30,
            limits=limits,
            hooks=hooks,
            reuse_port=shared,
            also_stop_on=(PARENT_DEATH_SIGNAL,) if shared else (),
        )
    except ClassifierLoadError as exc:
        # Said once, plainly: the loader has logged each backend's failure already.
        log.error("not started: no classifier of %s loaded (%s)", settings.classifier, exc)
        return 1
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        log.error(
            "not started: cannot listen on %s:%d (%s)",
            settings.host,
            settings.port,
            exc.strerror or type(exc).__name__,
        )
        return 1
    log.info("stopped")
    return 0


def _ready(ready_fd: int | None, addresses: list[Any]) -> None:
    urls = [_url(address) for address in addresses]
    log.info("ready on %s", ", ".join(urls), extra={"url": urls[0] if urls else None})
    if ready_fd is not None:
        with contextlib.suppress(OSError):  # the supervisor is gone: nobody to tell
            os.write(ready_fd, b"r")
        with contextlib.suppress(OSError):
            os.close(ready_fd)


def supervise(settings: Settings) -> int:
    """``MODERATION_PROCESSES`` > 1: prepare the database once, then run that many
    processes on one port and keep them running (moderation/supervisor.py)."""
    from moderation import supervisor

    count = settings.processes
    if not supervisor.reuse_port_supported():
        log.error("MODERATION_PROCESSES > 1 needs SO_REUSEPORT, which only Linux provides")
        return 2
    version = asyncio.run(_prepare_database(settings))
    log.info("database is up to date; guidelines version %d in force", version)
    port, holder = supervisor.reserve_port(settings.host, settings.port)
    threads = supervisor.threads_per_process(
        supervisor.available_cpus(), count, settings.torch_threads
    )
    url = _url((settings.host, port))
    log.info(
        "starting %d processes on %s, %d model thread(s) each",
        count,
        url,
        threads,
        extra={"processes": count, "url": url},
    )

    def ready() -> None:
        log.info("ready on %s: %d processes", url, count, extra={"url": url, "processes": count})

    runner = supervisor.Supervisor(
        supervisor.child_command(),
        count,
        supervisor.child_env(dict(os.environ), port=port, threads=threads),
        on_ready=ready,
    )
    try:
        status = asyncio.run(runner.run())
    finally:
        if holder is not None:
            holder.close()
    if status == 0:
        log.info("stopped")
    return status


def _url(address: Any) -> str:
    """``http://host:port`` of a listening socket's address (IPv6 in brackets)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
    return str(address)


async def upgrade(settings: Settings) -> int:
    version = await _prepare_database(settings)
    print(f"database is up to date; guidelines version {version} in force")
    return 0


async def _prepare_database(settings: Settings) -> int:
    """Apply the migrations and put the guidelines file in force; its version."""
    from moderation.services.policies import ensure_guidelines
    from moderation.storage.database import Database

    database = Database(
        settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        await database.upgrade()
        return await ensure_guidelines(database, *_guidelines_file(settings))
    finally:
        await database.dispose()


async def create_key(
    settings: Settings,
    role: str,
    name: str,
    rate_limit: float | None = None,
    *,
    scope: str | None = None,
) -> int:
    from moderation.domain.errors import ServiceError
    from moderation.services.keys import Keys, parse_role
    from moderation.services.policies import ensure_guidelines
    from moderation.storage.database import Database

    database = Database(
        settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        await database.upgrade()
        await ensure_guidelines(database, *_guidelines_file(settings))
        created = await Keys(database).create(
            name, parse_role(role), rate_limit=rate_limit, scope=scope
        )
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await database.dispose()
    scoped = f" in scope {created.key.scope!r}" if created.key.scope else ""
    print(
        f"created {created.key.role.name} key {created.key.id} named {created.key.name!r}{scoped}"
    )
    print("store it now: it is shown only this once")
    print(created.secret)
    return 0


async def score(settings: Settings, text: str, *, as_json: bool, tags: Sequence[str]) -> int:
    from classifiers.loader import load_preferred
    from moderation.app import load_encoder
    from moderation.domain.engine import Context, decide
    from moderation.domain.guidelines import from_document
    from moderation.http.guidelines_document import read_toml
    from moderation.services.policies import PolicyCache
    from moderation.workers.scorer import Scorer

    options = settings.classifier_options()
    classifier, _ = await asyncio.to_thread(load_preferred, options)
    embedder = await asyncio.to_thread(load_encoder, settings, classifier)
    # The service's own machinery: the scorer (scores, embedding, language), the policy
    # compiled with its examples.
    scorer = Scorer(classifier, embedder=embedder, timeout_s=settings.classify_timeout_s)
    scorer.start()
    try:
        (scored,) = await scorer.score_named([text])
        policies = PolicyCache(scorer.embed)
        document, version, source = await _current_document(settings)
        if document is None:
            document, version, source = read_toml(settings.guidelines), 0, str(settings.guidelines)
        policy = await policies.build(from_document(document, version))
    finally:
        await scorer.close()
    scores = scored.scores
    verdict = decide(
        policy,
        text,
        scores,
        classifier.name,
        Context(
            article_tags=frozenset(t.casefold() for t in tags),
            embedding=scored.embedding,
            language_supported=scored.language_supported,
            language=scored.language,
        ),
    )
    result = {
        "classifier": classifier.name,
        "classifier_categories": list(classifier.categories),
        "language": scored.language,
        "scores": scores,
        "action": verdict.action.value,
        "reasons": [r.as_dict() for r in verdict.reasons],
        "message": verdict.message,
        "guidelines_version": policy.version,
        "guidelines_source": source,
    }
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"classifier: {classifier.name} (scores {', '.join(classifier.categories)})")
    print("scores:")
    for category, value in sorted((scores or {}).items(), key=lambda kv: -kv[1]):
        print(f"  {category:<16} {value:.4f}")
    if scores is None:
        print("  (classifier unavailable)")
    print(f"decision: {verdict.action.value}  (guidelines version {policy.version}, {source})")
    for reason in verdict.reasons:
        detail = (
            f"{reason.category} {reason.score:.4f} >= {reason.threshold}"
            if reason.score is not None
            else ""
        )
        print(f"  - {reason.code} {reason.rule or ''} {detail} (guideline {reason.guideline})")
    print(f"message: {verdict.message}")
    return 0


def _database_exists(settings: Settings) -> bool:
    from moderation.storage.database import database_exists

    return database_exists(settings.effective_database_url)


async def _current_document(
    settings: Settings,
) -> tuple[dict[str, Any] | None, int, str | None]:
    """The guidelines document in force in the database (and its version), without
    creating or migrating anything."""
    from moderation.storage.database import Database

    if not await asyncio.to_thread(_database_exists, settings):
        return None, 0, None
    database = Database(settings.effective_database_url)
    try:
        async with database.transaction(write=False) as store:
            version = await store.latest_guidelines_version()
            found = await store.guidelines(version) if version else None
        if found is None:
            return None, 0, None
        return dict(found[0]), version, "database"
    except Exception as exc:
        log.warning(
            "could not read guidelines from the database (%s); using the file", type(exc).__name__
        )
        return None, 0, None
    finally:
        await database.dispose()


def _guidelines_file(settings: Settings) -> tuple[Callable[[], dict[str, Any]], str]:
    """What ``ensure_guidelines`` loads when the database has no guidelines yet."""
    from moderation.http.guidelines_document import read_toml

    return partial(read_toml, settings.guidelines), settings.guidelines.name


if __name__ == "__main__":  # how the supervisor starts its processes
    sys.exit(main())

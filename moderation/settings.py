"""Service configuration from environment variables (a ``.env`` / TOML file may add to them).

Precedence, highest first: the process environment, ``.env`` in the working
directory (``KEY=value`` lines), then the TOML file named by
``MODERATION_CONFIG_FILE`` (default ``moderation.toml`` when it exists), whose
keys are the variable names without the ``MODERATION_`` prefix, in lower case
(``port = 8080``). Every variable is listed in ``README.md``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from classifiers.downloads import RETRY_AFTER_S
from classifiers.loader import DEFAULT_PREFERENCE, DEFAULT_RUNTIME, ClassifierOptions
from moderation.domain.destinations import AllowList

PREFIX = "MODERATION_"
#: When a micro-batch waits for company (``MODERATION_BATCH_WAIT``, workers/scorer.py).
BATCH_WAITS = ("idle", "always")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
#: More processes than this is a typo, not a deployment (each loads its own models).
MAX_PROCESSES = 64


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Processes serving the port (moderation/supervisor.py, docs/deploy.md): 1 runs the
    # service in this process; more makes it a supervisor of that many (Linux).
    processes: int = 1
    data_dir: Path = Path("data")
    database_url: str = ""
    classifier: str = DEFAULT_PREFERENCE
    # Cascade (off when empty): this fast classifier decides texts it scores below
    # cascade_sure_below for toxicity; the configured classifier scores the rest.
    cascade: str = ""
    cascade_sure_below: float = 0.05
    # A second classifier (preference list) for shadow runs; empty: none.
    shadow_classifier: str = ""
    detoxify_checkpoint: Path | None = None
    detoxify_config: Path | None = None
    guidelines: Path = Path(__file__).resolve().parent.parent / "guidelines" / "default.toml"
    # The request body limit (README: "Limits"); the text and batch limits are the
    # contract's, fixed in the request models (moderation/http/schemas.py).
    max_body_bytes: int = 2 * 1024 * 1024
    # Slow clients (docs/deploy.md): a connection must send its request's headers (and an
    # idle keep-alive connection be reused) within keepalive_timeout_s; a body must arrive
    # within body_timeout_s (408 after); connections beyond max_connections get 503.
    keepalive_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_connections: int = 1024
    # Inference: one worker thread, micro-batches, bounded queue, per-comment deadline.
    classify_timeout_s: float = 10.0
    batch_max_size: int = 32
    batch_max_wait_ms: float = 2.0
    # When a batch waits batch_max_wait_ms for company: "idle", only when the model found
    # nothing queued (texts that queued while it was busy go at once); "always", also
    # then (the scorer before December): docs/inference.md, "The batching wait".
    batch_wait: str = "idle"
    batch_max_chars: int = 4_000
    queue_limit: int = 2_000
    # Batches run side by side (workers/scorer.py "Lanes"): 0 = one per model thread
    # where the runtime allows it (ONNX Runtime), else 1; 1 = one at a time.
    classifier_lanes: int = 0
    # How long a free lane waits for its share of the comments (lanes > 1).
    lane_wait_ms: float = 20.0
    # The Perspective endpoint answers within this, whatever the text's length (Coral
    # gives up after 800 ms and publishes unscored); docs/perspective.md.
    perspective_deadline_ms: float = 700.0
    # Coral's External Moderation Phase answers within this (Coral's phase timeout is
    # 200 ms by default); docs/coral.md.
    coral_deadline_ms: float = 150.0
    # This service's public base URL (https://moderation.example.org), for documents that
    # name it (Perspective's discovery document); default: the Host of the request.
    public_url: str = ""
    # Model intra-op threads (PyTorch or ONNX Runtime); 0 = one per core this process may use.
    torch_threads: int = 0
    model_download_timeout_s: float = 10.0
    # A failed model download is not tried again for this long (classifiers/downloads.py).
    model_download_retry_s: float = RETRY_AFTER_S
    # torch | onnx | onnx-int8 (docs/inference.md); ONNX exports are cached in
    # onnx_cache_dir, default <data_dir>/onnx-cache.
    detoxify_runtime: str = DEFAULT_RUNTIME
    onnx_cache_dir: Path | None = None
    # The sentence encoder (all-MiniLM-L6-v2) behind `minilm` and rules taught by example:
    # "minilm" loads it beside any classifier that lacks one, "off" does not (examples then
    # decide nothing). A local sentence-transformers folder replaces the pinned package's
    # weights (ENCODER_PATH), checked against ENCODER_SHA256 when given.
    encoder: str = "minilm"
    encoder_path: Path | None = None
    encoder_sha256: str = ""
    encoder_runtime: str = ""
    # SQLite durability: FULL makes "201 = on disk" hold across power loss too.
    sqlite_synchronous: str = "FULL"
    db_pool_size: int = 10
    # SQLite: comments arriving together share one transaction and one commit (1 = on).
    group_commit: int = 1
    # Per-key rate limits (requests per second, burst = 2 s worth); 0 disables.
    rate_limit_site: float = 5_000.0
    rate_limit_moderator: float = 200.0
    rate_limit_admin: float = 200.0
    # Heartbeat of each process on the shared database; rates are divided among the
    # processes that beat within three intervals.
    instance_heartbeat_s: float = 5.0
    # Webhook delivery: per-attempt timeout, idle poll, first retry delay (then doubling).
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0
    webhook_backoff_base_s: float = 2.0
    # Webhooks go only to public addresses, except to these: a comma-separated list of
    # CIDR networks, addresses and host names (``*.`` for subdomains) that are allowed
    # although not public, for a receiver inside the network (docs/webhooks.md).
    webhook_allow_hosts: str = ""
    # "" (open) or a role ("site", "moderator", "admin") whose key /metrics requires.
    metrics_role: str = ""
    log_level: str = "INFO"
    log_format: str = "json"

    def __post_init__(self) -> None:
        if not 1 <= self.processes <= MAX_PROCESSES:
            raise SettingsError(
                f"{PREFIX}PROCESSES must be from 1 to {MAX_PROCESSES}, got {self.processes}"
            )
        if self.metrics_role not in ("", "site", "moderator", "admin"):
            raise SettingsError(
                f"{PREFIX}METRICS_ROLE must be empty, site, moderator or admin, "
                f"got {self.metrics_role!r}"
            )
        if self.batch_wait not in BATCH_WAITS:
            raise SettingsError(
                f"{PREFIX}BATCH_WAIT must be {' or '.join(BATCH_WAITS)}, got {self.batch_wait!r}"
            )
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(
                f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(
                f"{PREFIX}LOG_FORMAT must be {' or '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        self.webhook_allow_list()  # a malformed list fails at start, naming the variable

    def webhook_allow_list(self) -> AllowList:
        """``MODERATION_WEBHOOK_ALLOW_HOSTS``, parsed."""
        try:
            return AllowList.parse(self.webhook_allow_hosts)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}WEBHOOK_ALLOW_HOSTS: {exc}") from None

    def classifier_options(self, preference: str | None = None) -> ClassifierOptions:
        """How to load a classifier (``preference`` defaults to ``MODERATION_CLASSIFIER``)."""
        return ClassifierOptions(
            preference=preference or self.classifier,
            detoxify_checkpoint=self.detoxify_checkpoint,
            detoxify_config=self.detoxify_config,
            torch_threads=self.torch_threads or None,
            download_timeout_s=self.model_download_timeout_s,
            download_retry_s=self.model_download_retry_s,
            detoxify_runtime=self.detoxify_runtime,
            onnx_cache_dir=self.onnx_cache_dir or self.data_dir / "onnx-cache",
            encoder_path=self.encoder_path,
            encoder_sha256=self.encoder_sha256 or None,
            encoder_runtime=self.encoder_runtime or None,
            decision_thresholds=self.decision_thresholds,
        )

    def decision_thresholds(self, classifier: str) -> dict[str, tuple[float | None, float | None]]:
        """Per category, the guidelines file's most severe (hold_at, reject_at) for
        ``classifier``: what the ``auto`` runtime's fidelity check compares decisions by."""
        import tomllib

        from moderation.domain.guidelines import from_document

        def number(value: object) -> float | None:  # TOML's false means "never"
            return float(value) if isinstance(value, int | float) and value is not False else None

        document = tomllib.loads(self.guidelines.read_text(encoding="utf-8"))
        result: dict[str, tuple[float | None, float | None]] = {}
        for rule in from_document(document).rules:
            hold, reject = (number(v) for v in rule.thresholds_for(classifier))
            if rule.category in result:
                before = result[rule.category]
                hold = min((v for v in (hold, before[0]) if v is not None), default=None)
                reject = min((v for v in (reject, before[1]) if v is not None), default=None)
            result[rule.category] = (hold, reject)
        return result

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'moderation.db').as_posix()}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None
    ) -> Settings:
        """Read settings; raises :class:`SettingsError` naming the bad variable."""
        env = dict(os.environ if environ is None else environ)
        base = cwd or Path.cwd()
        merged: dict[str, str] = {}
        toml_path = Path(env.get(PREFIX + "CONFIG_FILE", str(base / "moderation.toml")))
        if toml_path.is_file():
            with toml_path.open("rb") as handle:
                for key, value in tomllib.load(handle).items():
                    merged[PREFIX + key.upper()] = str(value)
        dotenv = base / ".env"
        if environ is None and dotenv.is_file():
            merged.update(_read_dotenv(dotenv))
        merged.update({k: v for k, v in env.items() if k.startswith(PREFIX)})
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = merged.get(PREFIX + spec.name.upper())
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.name, str(spec.type), raw)
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, kind: str, raw: str) -> object:
    variable = PREFIX + name.upper()
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind in ("Path", "Path | None"):
            return Path(raw).expanduser()
    except ValueError:
        raise SettingsError(f"{variable} must be a {kind.split()[0]}, got {raw!r}") from None
    return raw


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values

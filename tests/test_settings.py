"""Where settings come from (:meth:`moderation.settings.Settings.from_env`).

Precedence, lowest first: the TOML file (``MODERATION_CONFIG_FILE``, else
``moderation.toml`` in the working directory), ``.env`` in the working directory, the
process environment. ``.env`` is read only for the real environment, so these tests set
``os.environ`` (through ``monkeypatch``) rather than pass a mapping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moderation.settings import PREFIX, Settings, SettingsError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MODERATION_* variable from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_when_nothing_is_set(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings.from_env(cwd=tmp_path) == Settings()


def test_toml_then_dotenv_then_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "moderation.toml").write_text(
        'port = 9001\nhost = "toml-host"\nlog_level = "DEBUG"\ncascade_sure_below = 0.25\n',
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text(
        "# comment\nMODERATION_PORT=9002\nexport MODERATION_HOST='dotenv-host'\n",
        encoding="utf-8",
    )
    clean_env.setenv("MODERATION_PORT", "9003")
    settings = Settings.from_env(cwd=tmp_path)
    assert settings.port == 9003  # environment over .env over TOML
    assert settings.host == "dotenv-host"  # .env over TOML
    assert settings.log_level == "DEBUG"  # TOML alone
    assert settings.cascade_sure_below == 0.25


def test_dotenv_over_toml(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "moderation.toml").write_text("port = 9001\n", encoding="utf-8")
    (tmp_path / ".env").write_text('MODERATION_PORT="9002"\n', encoding="utf-8")
    assert Settings.from_env(cwd=tmp_path).port == 9002


def test_config_file_names_the_toml(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "moderation.toml").write_text("port = 9001\n", encoding="utf-8")
    elsewhere = tmp_path / "etc" / "service.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('port = 7000\ndata_dir = "/srv/moderation"\n', encoding="utf-8")
    clean_env.setenv("MODERATION_CONFIG_FILE", str(elsewhere))
    settings = Settings.from_env(cwd=tmp_path)
    assert settings.port == 7000  # the named file, not ./moderation.toml
    assert settings.data_dir == Path("/srv/moderation")
    # A named file that does not exist is no file: the defaults, not ./moderation.toml.
    clean_env.setenv("MODERATION_CONFIG_FILE", str(tmp_path / "missing.toml"))
    assert Settings.from_env(cwd=tmp_path).port == Settings().port


def test_a_mapping_reads_no_dotenv(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MODERATION_PORT=9002\n", encoding="utf-8")
    assert Settings.from_env({}, cwd=tmp_path).port == Settings().port
    assert Settings.from_env({"MODERATION_PORT": "9004"}, cwd=tmp_path).port == 9004


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("MODERATION_PORT", "eighty"),
        ("MODERATION_CASCADE_SURE_BELOW", "low"),
        ("MODERATION_DB_POOL_SIZE", "1.5"),
        ("MODERATION_METRICS_ROLE", "root"),
        ("MODERATION_BATCH_WAIT", "sometimes"),
        ("MODERATION_LOG_LEVEL", "LOUD"),
        ("MODERATION_LOG_FORMAT", "yaml"),
    ],
)
def test_a_bad_value_names_the_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, variable: str, raw: str
) -> None:
    clean_env.setenv(variable, raw)
    with pytest.raises(SettingsError, match=variable) as raised:
        Settings.from_env(cwd=tmp_path)
    assert repr(raw) in str(raised.value)


def test_a_bad_value_in_the_toml_names_the_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "moderation.toml").write_text('port = "eighty"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="MODERATION_PORT"):
        Settings.from_env(cwd=tmp_path)

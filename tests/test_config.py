"""Config: the issue's YAML shape loads; every kind of mistake names its key path and a fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from syncd.config import ConfigError, load_config

VALID = """\
warehouse:
  kind: duckdb
  path: demo/shop.duckdb
segments:
  abandoned_carts:
    sql: "select email, phone, country from carts where abandoned"
    identifiers: {email: email, phone: phone}
    country_column: country
destinations:
  meta:
    kind: meta
    ad_account_id: "act_1000"
    access_token: ${META_ACCESS_TOKEN}
    endpoint: http://127.0.0.1:18001
  google:
    kind: google_data_manager
    operating_account_id: "1234567890"
    access_token: ${GOOGLE_ACCESS_TOKEN}
    endpoint: http://127.0.0.1:18002
audiences:
  - segment: abandoned_carts
    destination: meta
    audience_id: "23850000000000001"
  - segment: abandoned_carts
    destination: google
    audience_id: "9000001"
state:
  path: .syncd/state.duckdb
"""
ENV = {"META_ACCESS_TOKEN": "meta-secret-123", "GOOGLE_ACCESS_TOKEN": "google-secret-456"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), environ=ENV if environ is None else environ)
    return [f"{p.line}|{p.path}|{p.message}|{p.hint}" for p in raised.value.problems]


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), environ=ENV)
    assert config.destinations["meta"].access_token.get_secret_value() == "meta-secret-123"
    assert config.warehouse.path == tmp_path / "demo/shop.duckdb"
    assert config.state.path == tmp_path / ".syncd/state.duckdb"
    assert [a.name for a in config.audiences] == [
        "abandoned_carts->meta",
        "abandoned_carts->google",
    ]


def test_secrets_come_from_files_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    text = VALID.replace("${META_ACCESS_TOKEN}", "${file:token}").replace(
        "${GOOGLE_ACCESS_TOKEN}", "${GOOGLE_ACCESS_TOKEN:-fallback}"
    )
    config = load_config(write(tmp_path, text), environ={})
    assert config.destinations["meta"].access_token.get_secret_value() == "from-a-file"
    assert config.destinations["google"].access_token.get_secret_value() == "fallback"


def test_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    found = problems(tmp_path, VALID, environ={"GOOGLE_ACCESS_TOKEN": "x"})
    assert len(found) == 1
    line, path, message, hint = found[0].split("|")
    assert (line, path) == ("13", "destinations.meta.access_token")
    assert "META_ACCESS_TOKEN" in message and "export META_ACCESS_TOKEN" in hint


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(
        tmp_path, VALID.replace("    endpoint: http://127.0.0.1:18001", "    endpont: x")
    )
    assert found == [
        "14|destinations.meta.endpont|unknown key|did you mean 'endpoint'? "
        "allowed: access_token, ad_account_id, api_version, app_access_token, batch_size, "
        "endpoint, kind, max_in_flight, timeout_seconds"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace('ad_account_id: "act_1000"', 'ad_account_id: "1000"')
        .replace("{email: email, phone: phone}", "{email: email, phoen: phone}")
        .replace(
            "  - segment: abandoned_carts\n    destination: google",
            "  - segment: carts\n    destination: google",
        )
        .replace('operating_account_id: "1234567890"', 'operating_account_id: "12"')
    )
    found = problems(tmp_path, text)
    paths = [entry.split("|")[1] for entry in found]
    assert sorted(paths) == sorted(
        [
            "segments.abandoned_carts.identifiers.phoen",
            "destinations.meta.ad_account_id",
            "destinations.google.operating_account_id",
            "audiences[1].segment",
        ]
    )
    by_path = {entry.split("|")[1]: entry for entry in found}
    assert "act_<digits>" in by_path["destinations.meta.ad_account_id"]
    assert "10 digits" in by_path["destinations.google.operating_account_id"]
    assert "segments: abandoned_carts" in by_path["audiences[1].segment"]


def test_wrong_type_and_missing_key(tmp_path: Path) -> None:
    text = VALID.replace("audiences:\n", "audiences: 3\nunused:\n").replace(
        '    sql: "select email, phone, country from carts where abandoned"\n', ""
    )
    found = problems(tmp_path, text)
    messages = {entry.split("|")[1]: entry.split("|")[2] for entry in found}
    assert messages["segments.abandoned_carts.sql"] == "required key is missing"
    assert "valid list" in messages["audiences"]
    assert messages["unused"] == "unknown key"


def test_duplicate_audience_mapping_is_refused(tmp_path: Path) -> None:
    duplicate = (
        "  - segment: abandoned_carts\n"
        "    destination: meta\n"
        '    audience_id: "23850000000000001"\n'
    )
    found = problems(tmp_path, VALID.replace("state:\n", duplicate + "state:\n"))
    assert len(found) == 1
    line, path, message, hint = found[0].split("|")
    assert (line, path) == ("29", "audiences[2].audience_id")
    assert message == "audience 23850000000000001 on 'meta' is already fed by audiences[0]"
    assert "one network audience follows exactly one segment" in hint


def test_bad_yaml_gives_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, VALID.replace("  kind: duckdb", "  kind: [duckdb"))
    assert len(found) == 1 and "not valid YAML" in found[0]
    assert found[0].split("|")[0] in {"2", "3"}


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "syncd.yaml"
    path.write_bytes(VALID.encode() + b"# \xff\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert "not UTF-8" in str(raised.value)


def test_validate_command_exits_2_and_never_prints_secrets(tmp_path: Path) -> None:
    text = VALID.replace('ad_account_id: "act_1000"', "ad_account_id: 7")
    path = write(tmp_path, text)
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "validate", str(path)],
        capture_output=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
        text=True,
    )
    assert completed.returncode == 2
    assert "destinations.meta.ad_account_id" in completed.stderr
    assert "1 problem in" in completed.stderr
    for secret in ENV.values():
        assert secret not in completed.stderr + completed.stdout


def test_validate_command_accepts_a_good_file(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "syncd", "validate", str(write(tmp_path, VALID))],
        capture_output=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "ok (1 segments, 2 destinations, 2 audiences)" in completed.stdout


def test_the_shipped_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "example.yaml"
    environ = {"META_ACCESS_TOKEN": "x", "GOOGLE_APPLICATION_CREDENTIALS": "/secrets/sa.json"}
    config = load_config(example, environ=environ)
    assert {a.name for a in config.audiences} == {
        "abandoned_carts->meta",
        "abandoned_carts->google",
    }


def test_a_token_written_in_the_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    text = VALID.replace("${META_ACCESS_TOKEN}", "EAAB-literal-token-123")
    found = problems(tmp_path, text)
    assert len(found) == 1
    line, path, message, hint = found[0].split("|")
    assert (line, path, message) == (
        "13",
        "destinations.meta.access_token",
        "a secret is written in the file",
    )
    assert "${META_ACCESS_TOKEN}" in hint
    assert "EAAB-literal-token-123" not in found[0]


@pytest.mark.parametrize(
    ("endpoint", "accepted"),
    [
        ("https://graph.example.com", True),
        ("http://127.0.0.1:18001", True),
        ("http://localhost:18001", True),
        ("http://[::1]:18001", True),
        ("http://10.1.2.3:18001", False),
        ("http://graph.facebook.com", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_plain_http_only_to_loopback(tmp_path: Path, endpoint: str, accepted: bool) -> None:
    text = VALID.replace("http://127.0.0.1:18001", endpoint)
    if accepted:
        load_config(write(tmp_path, text), environ=ENV)
    else:
        (problem,) = problems(tmp_path, text)
        assert problem.split("|")[1:3] == [
            "destinations.meta.endpoint",
            "must be https:// (plain http:// is allowed only to 127.0.0.1, ::1 or localhost, "
            "for the sandbox)" + f" (got {endpoint!r})",
        ]


def test_a_password_written_in_a_postgres_dsn_is_refused(tmp_path: Path) -> None:
    text = VALID.replace(
        "  kind: duckdb\n  path: demo/shop.duckdb",
        "  kind: postgres\n  dsn: postgresql://syncd:hunter22@db:5432/shop",
    )
    found = problems(tmp_path, text)
    assert [entry.split("|")[1:3] for entry in found] == [
        ["warehouse.dsn", "a secret is written in the file"]
    ]
    assert "hunter22" not in "".join(found)
    load_config(
        write(tmp_path, text.replace("postgresql://syncd:hunter22@db:5432/shop", "${DSN}")),
        environ={**ENV, "DSN": "postgresql://syncd:x@db/shop"},
    )

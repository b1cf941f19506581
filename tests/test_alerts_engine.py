"""The alert engine on the state alone (DuckDB and PostgreSQL): one alert and one queued
message when a condition starts, one when it clears, none on the passes between; replicas
observing at once queue one; and the `alerts:` config section."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from syncd.alerts.engine import Condition, observe
from syncd.config import load_config
from syncd.config.alerts import Alerts, Webhook
from syncd.config.loader import ConfigError
from syncd.config.models import SyncdConfig
from syncd.state import StateStore
from syncd.state.backends import PostgresBackend

AUDIENCE = "people->meta"
OTHER = "people->google"
CONFIG = SyncdConfig.model_construct(
    alerts=Alerts(
        webhooks=[Webhook(url="http://127.0.0.1:9/a"), Webhook(url="http://127.0.0.1:9/b")]
    )
)


@pytest.fixture(params=["duckdb", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StateStore]:
    if request.param == "duckdb":
        return lambda: StateStore.at(tmp_path / "state.duckdb")
    uri = request.getfixturevalue("postgres_uri")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    return lambda: StateStore(PostgresBackend(uri, schema))


def failing(audience: str = AUDIENCE, message: str = "the pass failed") -> Condition:
    return Condition("audience_failed", audience, message, "renew the token")


def alerts(state: StateStore) -> list[tuple]:
    return state.backend.execute(
        "SELECT alert_key, audience, message, fix, resolved_at IS NULL FROM alerts "
        "ORDER BY opened_at, alert_key"
    )


def outbox(state: StateStore) -> list[tuple]:
    return state.backend.execute(
        "SELECT alert_key, event, webhook FROM alert_outbox ORDER BY created_at, event, webhook"
    )


def test_one_message_when_a_condition_starts_and_one_when_it_clears(
    make_store: Callable[[], StateStore],
) -> None:
    with make_store() as state:
        for _ in range(3):  # three passes in the condition: one alert, one message each
            observe(CONFIG, state, "audience_failed", [AUDIENCE, OTHER], [failing()])
        assert alerts(state) == [
            ("audience_failed|people->meta|1", AUDIENCE, "the pass failed", "renew the token", True)
        ]
        assert [row[1] for row in outbox(state)] == ["firing", "firing"]  # one per webhook
        for _ in range(2):
            observe(CONFIG, state, "audience_failed", [AUDIENCE, OTHER], [])
        assert [row[4] for row in alerts(state)] == [False]
        assert [row[1] for row in outbox(state)] == ["firing"] * 2 + ["resolved"] * 2
        # It starts again: a second alert, with a key of its own.
        observe(CONFIG, state, "audience_failed", [AUDIENCE], [failing(message="again")])
        assert [(row[0], row[4]) for row in alerts(state)][-1] == (
            "audience_failed|people->meta|2",
            True,
        )


def test_an_audience_not_checked_keeps_its_alert(make_store: Callable[[], StateStore]) -> None:
    """A pass over some audiences says nothing of the others' conditions."""
    with make_store() as state:
        observe(CONFIG, state, "audience_failed", [AUDIENCE], [failing()])
        observe(CONFIG, state, "audience_failed", [OTHER], [])
        assert [row[4] for row in alerts(state)] == [True]
        # Another rule's observation leaves this rule's alert alone too.
        observe(CONFIG, state, "refused_share", [AUDIENCE], [])
        assert [row[4] for row in alerts(state)] == [True]


def test_conditions_of_one_audience_make_one_alert(make_store: Callable[[], StateStore]) -> None:
    with make_store() as state:
        observe(
            CONFIG,
            state,
            "audience_failed",
            [],
            [failing("*", "meta's token expires"), failing("*", "google's token expires")],
        )
        [(_, audience, message, _, _)] = alerts(state)
        assert (audience, message) == ("*", "meta's token expires; google's token expires")


def test_a_condition_of_another_rule_is_refused(tmp_path: Path) -> None:
    with StateStore.at(tmp_path / "state.duckdb") as state, pytest.raises(ValueError):
        observe(CONFIG, state, "refused_share", [AUDIENCE], [failing()])


def _at_once(stores: list[StateStore], work: Callable[[StateStore], None]) -> None:
    """`work` on every store, each in a thread, all let go at the same instant."""
    start = threading.Barrier(len(stores))

    def run(state: StateStore) -> None:
        start.wait()
        work(state)

    threads = [threading.Thread(target=run, args=(state,)) for state in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_replicas_observing_at_once_queue_one_message(postgres_uri: str) -> None:
    """Two processes' stores on one PostgreSQL schema, observing the same condition at the
    same instant (many rounds, so the race is met): one alert, one message per webhook."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    stores = [StateStore(PostgresBackend(postgres_uri, schema)) for _ in range(2)]
    audiences = [f"audience-{number}" for number in range(10)]
    try:
        for audience in audiences:
            _at_once(
                stores,
                lambda state, audience=audience: observe(
                    CONFIG, state, "audience_failed", [audience], [failing(audience)]
                ),
            )
        assert len(alerts(stores[0])) == 10
        assert len(outbox(stores[0])) == 20  # 10 alerts x 2 webhooks, never 40
        for audience in audiences:  # and resolving at once: one message each
            _at_once(
                stores,
                lambda state, audience=audience: observe(
                    CONFIG, state, "audience_failed", [audience], []
                ),
            )
        assert [row[1] for row in outbox(stores[0])].count("resolved") == 20
    finally:
        for store in stores:
            store.close()


def _write(tmp_path: Path, alerts_section: dict) -> Path:
    data = {
        "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
        "segments": {"people": {"sql": "select 1", "identifiers": {"email": "email"}}},
        "destinations": {
            "meta": {"kind": "meta", "ad_account_id": "act_1", "access_token": "${TOKEN}"}
        },
        "audiences": [{"segment": "people", "destination": "meta", "audience_id": "1"}],
        "alerts": alerts_section,
    }
    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_webhook_url_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, {"webhooks": [{"url": "${SLACK_URL}", "format": "slack"}]})
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    config = load_config(path, environ={"TOKEN": "t", "SLACK_URL": url})
    [webhook] = config.alerts.webhooks
    assert (webhook.url.get_secret_value(), webhook.format) == (url, "slack")
    assert url not in repr(config.alerts)  # a secret: never printed
    assert config.alerts.refused_share == 0.05  # the rules' defaults
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={"TOKEN": "t"})
    assert "SLACK_URL" in str(error.value)


def test_a_config_without_alerts_has_rules_and_no_webhooks(tmp_path: Path) -> None:
    path = _write(tmp_path, {})
    alerts_section = load_config(path, environ={"TOKEN": "t"}).alerts
    assert alerts_section.webhooks == []
    assert alerts_section.audience_failed and alerts_section.match_rate_drop_points == 20


def test_a_webhook_must_be_http(tmp_path: Path) -> None:
    path = _write(tmp_path, {"webhooks": [{"url": "hooks.slack.com/x"}]})
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={"TOKEN": "t"})
    assert "alerts.webhooks[0].url" in str(error.value)

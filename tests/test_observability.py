"""The observability shipped in deploy/: Prometheus alerting rules checked and unit-tested
with promtool (Debian's `prometheus` package, which .ci/run installs), and a Grafana
dashboard whose every query names only metrics syncd exports, read from syncd's own
registry after a real pass against the emulators. Also what sets the metrics the rules
read: a pass, a credential check, a spend pull."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import Workspace
from prometheus_client import Metric
from support.people import PEOPLE, rows

from syncd import metrics
from syncd.alerts.credentials import check_credentials
from syncd.pipeline import sync_all

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "syncd-alerts.yaml"
RULE_TESTS = RULES_DIR / "syncd-alerts.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "syncd-dashboard.json"
PROMTOOL = "promtool"


@pytest.fixture
def promtool() -> str:
    found = shutil.which(PROMTOOL)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI: .ci/run installs Debian's prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus); CI runs this")
    return found


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# ---- promtool ---------------------------------------------------------------------------------


def test_promtool_accepts_the_rules(promtool: str) -> None:
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def test_the_rules_fire_and_clear_on_synthetic_series(promtool: str, tmp_path: Path) -> None:
    """promtool's unit tests: each alert fires on series that start its condition, with the
    annotations it says, and stays quiet (or clears) on series that do not."""
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    # The unit tests can fail: the refused share's threshold raised tenfold breaks them.
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    loose = RULES.read_text(encoding="utf-8").replace("syncd_audience_members_sent > 0.05", "x")
    assert loose != RULES.read_text(encoding="utf-8")
    (tmp_path / RULES.name).write_text(
        loose.replace("x", "syncd_audience_members_sent > 0.5", 1), encoding="utf-8"
    )
    broken = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode != 0 and "SyncdMembersRefused" in broken.stdout + broken.stderr


def test_every_alert_is_unit_tested_and_says_whom_and_the_fix() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alert_rules()}
    assert tested == names and firing == names
    for rule in alert_rules():
        subject = "destination" if "credential" in rule["expr"] else "audience"
        for annotation in ("summary", "description"):
            assert f"{{{{ $labels.{subject} }}}}" in rule["annotations"][annotation], rule["alert"]
        assert "Fix: " in rule["annotations"]["description"], rule["alert"]


# ---- the metrics the rules and the dashboard name ---------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset"}
_NOT_METRICS |= {"bool", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers left once strings, label
    matchers, ranges, grouping clauses and function names are set aside (a Grafana
    `label_values(metric, label)` reads its metric)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,[^)]*\)", r"\1", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", expr):
        before = expr[match.start() - 1] if match.start() else " "
        if before.isdigit() or before in ".$" or expr[match.end() :].lstrip().startswith("("):
            continue  # 1h's h, 1e3's e, a $variable, a function
        if match.group().lower() not in _NOT_METRICS:
            names.add(match.group())
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, audience) (rate(syncd_sync_duration_seconds_bucket"
        '{audience=~"$audience"}[$__rate_interval]))) / on (audience) group_left '
        "syncd_audience_members offset 1h > 1e3 or vector(0)"
    )
    assert metric_names(expr) == {"syncd_sync_duration_seconds_bucket", "syncd_audience_members"}
    assert metric_names("label_values(syncd_syncs_total, audience)") == {"syncd_syncs_total"}
    assert metric_names("ALERTS{alertstate='firing'}") == {"ALERTS"}


def exported(families: list[Metric]) -> set[str]:
    """Every series name syncd's registry exports, by each family's type."""
    names = set()
    for family in families:
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    return names


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["query"]["query"])
    return queries


def observed_config(workspace: Workspace) -> dict:
    """The workspace's two audiences under a segment no other test names (the registry is
    the process's), and a third on a Meta audience that does not exist, which fails."""
    data = workspace.config_data()
    segment = data["segments"]["people"]
    data["segments"] = {"observed": segment, "observed_missing": segment}
    data["audiences"] = [{**audience, "segment": "observed"} for audience in data["audiences"]]
    missing = {"segment": "observed_missing", "destination": "meta", "audience_id": "238500999"}
    data["audiences"].append(missing)
    return data


def sample(families: list[Metric], name: str, **labels: str) -> float | None:
    for family in families:
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


def test_a_pass_sets_what_the_rules_read_and_the_dashboard_names_only_exported_metrics(
    workspace: Workspace,
) -> None:
    workspace.write_people(rows(PEOPLE))
    results = sync_all(workspace.config(observed_config(workspace)))
    assert [r.status for r in results] == ["ok", "ok", "failed"]
    families = list(metrics.REGISTRY.collect())

    meta, google, broken = (r.audience for r in results)
    assert sample(families, "syncd_audience_last_pass", audience=meta, status="ok") == 1
    assert sample(families, "syncd_audience_last_pass", audience=broken, status="failed") == 1
    assert sample(families, "syncd_audience_last_pass", audience=broken, status="ok") is None
    assert sample(families, "syncd_audience_members_held", audience=meta) == 5
    assert sample(families, "syncd_audience_members_held", audience=broken) is None
    assert sample(families, "syncd_audience_members_sent", audience=google) == 5
    assert sample(families, "syncd_audience_members_refused", audience=google) == 0
    matched = results[1].audience_info.get("matched_members")
    assert isinstance(matched, int)
    assert sample(families, "syncd_audience_matched_members", audience=google) == matched
    assert sample(families, "syncd_audience_match_rate", audience=google) == pytest.approx(
        matched / 5
    )

    names = exported(families)
    rules = [rule["expr"] for rule in alert_rules()]
    for where, queries in (("the dashboard", dashboard_queries()), ("the rules", rules)):
        read = set().union(*(metric_names(query) for query in queries))
        assert read, f"no metric found in {where}"
        assert read <= names, f"{where} reads metrics syncd does not export: {read - names}"
    assert "syncd_audience_last_pass" in set().union(*map(metric_names, dashboard_queries()))


def test_a_second_pass_moves_the_status_and_keeps_one_at_one(workspace: Workspace) -> None:
    """The status gauge is 1 for the last pass's status only: a failed audience that syncs
    again ok reads ok 1, failed 0."""
    metrics.observe_outcome("flip->meta", "failed", **_nothing())
    metrics.observe_outcome("flip->meta", "skipped", **_nothing())  # says nothing
    families = list(metrics.REGISTRY.collect())
    assert sample(families, "syncd_audience_last_pass", audience="flip->meta", status="failed") == 1
    metrics.observe_outcome("flip->meta", "ok", **_nothing())
    families = list(metrics.REGISTRY.collect())
    assert sample(families, "syncd_audience_last_pass", audience="flip->meta", status="ok") == 1
    assert sample(families, "syncd_audience_last_pass", audience="flip->meta", status="failed") == 0
    assert (
        sample(families, "syncd_audience_last_pass", audience="flip->meta", status="skipped")
        is None
    )


def _nothing() -> dict:
    return {"sent": 0, "refused": 0, "held": 0, "members": 0, "matched": None}


def test_a_credential_check_sets_the_credential_gauges(workspace: Workspace) -> None:
    """Meta's token debugger, asked by the credential rule's check, sets when the token
    expires and whether it works, under the destination's name."""
    data = workspace.config_data()
    data["destinations"] = {"meta_watched": data["destinations"]["meta"]}
    data["audiences"] = [{**data["audiences"][0], "destination": "meta_watched"}]
    config = workspace.config(data)
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(days=3)
    workspace.sandbox.meta.token_expires(expires)
    check_credentials(config, now=now)
    families = list(metrics.REGISTRY.collect())
    expiry = "syncd_credential_expiry_timestamp_seconds"
    assert sample(families, expiry, destination="meta_watched") == pytest.approx(
        expires.timestamp(), abs=1
    )
    assert sample(families, "syncd_credential_valid", destination="meta_watched") == 1

    workspace.sandbox.meta.expire_token()
    check_credentials(config, now=now + dt.timedelta(minutes=61))  # asked hourly at most
    families = list(metrics.REGISTRY.collect())
    assert sample(families, "syncd_credential_valid", destination="meta_watched") == 0


def test_spend_and_credentials_set_their_gauges() -> None:
    day = dt.date(2026, 3, 2)
    metrics.observe_spend(
        {"spent": "spent->meta", "idle": "idle->meta"},
        [
            ("spent", day, 3.5),
            ("spent", day + dt.timedelta(days=2), 1.0),
            ("spent", day + dt.timedelta(days=3), 0.0),  # a day without spend is not one
            ("idle", day, 0.0),
            ("other", day + dt.timedelta(days=9), 9.0),  # not an audience of this pull
        ],
    )
    expires = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    metrics.observe_credentials("meta_cred", True, expires)
    metrics.observe_credentials("google_cred", False, None)
    metrics.observe_credentials("unknown_cred", None, None)
    families = list(metrics.REGISTRY.collect())
    last = dt.datetime(2026, 3, 4, tzinfo=dt.UTC).timestamp()
    spend = "syncd_audience_last_spend_timestamp_seconds"
    assert sample(families, spend, audience="spent->meta") == last
    assert sample(families, spend, audience="idle->meta") is None
    expiry = "syncd_credential_expiry_timestamp_seconds"
    assert sample(families, expiry, destination="meta_cred") == expires.timestamp()
    assert sample(families, "syncd_credential_valid", destination="meta_cred") == 1
    assert sample(families, "syncd_credential_valid", destination="google_cred") == 0
    assert sample(families, "syncd_credential_valid", destination="unknown_cred") is None

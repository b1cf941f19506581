"""Each audience is resolved to one target before a pass runs, and the stages take it: the
target says the destination's refresh cutoff and consent, and a config whose audience names
a destination it does not have resolves to none."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import GOOGLE_LIST, META_AUDIENCE, Workspace
from support.people import PEOPLE, rows

from syncd import apply, pipeline, targets
from syncd.config.models import Consent, SyncdConfig
from syncd.plan import AudiencePlan
from syncd.state import AudienceRef
from syncd.targets import Target, UnknownReference, audience_ref, resolve

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def config(**google: object) -> SyncdConfig:
    """A config of one segment synced to Meta and to Google Data Manager (`google`: more
    settings for the Google destination)."""
    return SyncdConfig.model_validate(
        {
            "warehouse": {"kind": "duckdb", "path": "shop.duckdb"},
            "segments": {"people": {"sql": "select 1", "identifiers": {"email": "email"}}},
            "destinations": {
                "meta": {
                    "kind": "meta",
                    "ad_account_id": "act_1000",
                    "access_token": "unused",
                    "endpoint": "http://127.0.0.1:9",
                },
                "google": {
                    "kind": "google_data_manager",
                    "operating_account_id": "123-456-7890",
                    "access_token": "unused",
                    "endpoint": "http://127.0.0.1:9",
                    **google,
                },
            },
            "audiences": [
                {"segment": "people", "destination": "meta", "audience_id": META_AUDIENCE},
                {"segment": "people", "destination": "google", "audience_id": GOOGLE_LIST},
            ],
        }
    )


def test_refresh_cutoff_and_consent_defaults_are_the_destinations() -> None:
    consent = {"ad_user_data": "granted", "ad_personalization": "denied"}
    meta, google = targets.targets(
        config(refresh_after_days=30, consent=consent, batch_size=20_000), NOW
    )

    assert google.refresh_before == NOW - dt.timedelta(days=30)
    assert google.consent == Consent(**consent)
    assert google.ref == AudienceRef("google_data_manager:1234567890", GOOGLE_LIST)
    assert google.batch_size == 10_000  # the destination's, never past the network's limit
    assert (google.network, google.name) == ("google", "people->google")
    # Meta keeps members for good and takes no consent signals.
    assert (meta.refresh_before, meta.consent) == (None, None)
    assert meta.ref == AudienceRef("meta:act_1000", META_AUDIENCE)


def test_audience_ref_is_the_targets_state_key() -> None:
    """Callers outside a pass (the daemon's leases, spend, the demo) key state as a pass does."""
    loaded = config()
    for audience, target in zip(loaded.audiences, targets.targets(loaded, NOW), strict=True):
        assert audience_ref(loaded, audience) == target.ref


def test_an_audience_naming_an_unknown_destination_resolves_to_no_target() -> None:
    """The loader refuses such a file; a config built in code is refused here, by name."""
    loaded = config()
    stray = loaded.audiences[1].model_copy(update={"destination": "gogle"})
    with pytest.raises(UnknownReference, match=r"people->gogle: destination 'gogle' is not a key"):
        resolve(loaded, stray, NOW)
    with pytest.raises(UnknownReference, match="destination 'gogle'"):
        targets.targets(loaded.model_copy(update={"audiences": [stray]}), NOW)


def test_a_pass_resolves_each_audience_once_and_its_stages_take_that_target(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading, planning, pushing, settling and recording one audience resolve nothing again:
    the plan that is applied carries the very target resolved before the pass began."""
    resolved: list[Target] = []
    applied: list[AudiencePlan] = []
    resolve_once, apply_plan = targets.resolve, apply.apply_plan

    def resolving(*args: object) -> Target:
        resolved.append(resolve_once(*args))  # type: ignore[arg-type]
        return resolved[-1]

    def applying(plan: AudiencePlan, *args: object) -> None:
        applied.append(plan)
        apply_plan(plan, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(targets, "resolve", resolving)
    monkeypatch.setattr(pipeline, "apply_plan", applying)
    workspace.write_people(rows(PEOPLE))

    results = workspace.sync()

    assert [result.status for result in results] == ["ok", "ok"]
    assert [target.name for target in resolved] == ["people->meta", "people->google"]
    by_name = {plan.target.name: plan.target for plan in applied}  # applied side by side
    assert all(by_name[target.name] is target for target in resolved)

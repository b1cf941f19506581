"""Acknowledgments that admit less was applied: what the network did not take goes back to
the diff, and the pass does not call itself complete (issue 27, item 2)."""

from __future__ import annotations

import threading
import time

from conftest import FAST_RETRIES, GOOGLE_LIST, META_AUDIENCE, Workspace, sha

from syncd.pipeline import AudienceResult, PassOptions, sync_all

EMAILS = [f"buyer{i}@example.com" for i in range(6)]


def write(workspace: Workspace, emails: list[str]) -> None:
    workspace.write_people([(email, None, "US", None, None, None) for email in emails])


def config(workspace: Workspace) -> dict:
    data = workspace.config_data()
    data["guardrails"] = {"max_removal_fraction": 1.0}
    for destination in data["destinations"].values():
        destination["batch_size"] = 2
    data["destinations"]["google"]["settle_seconds"] = 10
    return data


def by_network(results: list[AudienceResult]) -> dict[str, AudienceResult]:
    return {result.network: result for result in results}


def meta_members(emails: list[str]) -> set[frozenset]:
    return {frozenset({("EMAIL", sha(email))}) for email in emails}


def google_members(emails: list[str]) -> set[frozenset]:
    return {frozenset({("emailAddress", sha(email))}) for email in emails}


def test_an_add_meta_counted_short_is_sent_again(workspace: Workspace) -> None:
    write(workspace, EMAILS)
    workspace.sandbox.meta.under_apply(META_AUDIENCE, applied=1)

    meta = by_network(workspace.sync(config(workspace)))["meta"]

    assert (meta.status, meta.unapplied, meta.requests) == ("incomplete", 2, 3)
    assert "applied 1 of 2" in (meta.error or "")
    assert len(workspace.sandbox.meta.members(META_AUDIENCE)) == 5

    again = by_network(workspace.sync(config(workspace)))["meta"]
    assert (again.status, again.adds, again.requests) == ("ok", 2, 1)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(EMAILS)


def test_a_removal_meta_answered_with_zero_is_sent_again(workspace: Workspace) -> None:
    write(workspace, EMAILS)
    assert [r.status for r in workspace.sync(config(workspace))] == ["ok", "ok"]
    write(workspace, EMAILS[:4])
    workspace.sandbox.meta.under_apply(META_AUDIENCE, applied=0)

    meta = by_network(workspace.sync(config(workspace)))["meta"]

    assert (meta.status, meta.removes, meta.unapplied) == ("incomplete", 2, 2)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(EMAILS)

    again = by_network(workspace.sync(config(workspace)))["meta"]
    assert (again.status, again.removes) == ("ok", 2)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(EMAILS[:4])


def test_an_ingest_google_failed_in_processing_is_sent_again(workspace: Workspace) -> None:
    """Data Manager accepts an ingest with a request id, then reports it FAILED: its
    members are not held, and the next pass sends them again."""
    write(workspace, EMAILS)
    workspace.sandbox.google.fail_processing(times=1)

    google = by_network(workspace.sync(config(workspace)))["google"]

    assert "FAILED" in google.request_statuses.values()
    assert (google.status, google.unapplied) == ("incomplete", 2)
    assert len(workspace.sandbox.google.members(GOOGLE_LIST)) == 4

    again = by_network(workspace.sync(config(workspace)))["google"]
    assert (again.status, again.adds, again.requests) == ("ok", 2, 1)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(EMAILS)


def test_a_failure_read_before_a_stop_still_sends_the_members_again(workspace: Workspace) -> None:
    """Statuses read while the push went on count however it ends: a request reported
    FAILED, then the pass stopped, still leaves its members in flight for the next pass."""
    emails = [f"stopped{i}@example.com" for i in range(20)]
    write(workspace, emails)
    data = config(workspace)
    data["audiences"] = [a for a in data["audiences"] if a["destination"] == "google"]
    data["destinations"]["google"]["max_in_flight"] = 1
    google_emulator = workspace.sandbox.google
    google_emulator.latency = 0.3
    google_emulator.fail_processing(times=1)  # the first ingest fails in processing
    stop = threading.Event()

    def stop_once_the_failure_is_read() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            r.operation == "status" for r in google_emulator.requests
        ):
            time.sleep(0.01)
        time.sleep(0.35)  # its answer is back
        stop.set()

    threading.Thread(target=stop_once_the_failure_is_read, daemon=True).start()
    (google,) = sync_all(workspace.config(data), PassOptions(stop=stop, retry_policy=FAST_RETRIES))

    assert google.status == "stopped"
    assert "FAILED" in google.request_statuses.values()
    (again,) = sync_all(workspace.config(data), PassOptions(retry_policy=FAST_RETRIES))
    assert again.status == "ok"
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(emails)


def test_adds_wait_for_a_removal_meta_did_not_apply(workspace: Workspace) -> None:
    """A removal matches by any key on Meta: sent again after this pass's adds, it could
    take out a person just added under a new spelling. So the adds wait a pass too."""
    write(workspace, EMAILS)
    assert [r.status for r in workspace.sync(config(workspace))] == ["ok", "ok"]
    changed = [*EMAILS[2:], "newcomer@example.com"]
    write(workspace, changed)
    workspace.sandbox.meta.under_apply(META_AUDIENCE, applied=0)
    workspace.sandbox.meta.clear_requests()

    meta = by_network(workspace.sync(config(workspace)))["meta"]

    assert meta.status == "incomplete" and "adds wait for the removals" in (meta.error or "")
    edits = [r.operation for r in workspace.sandbox.meta.requests]
    assert [operation for operation in edits if operation in ("add", "remove")] == ["remove"]
    again = by_network(workspace.sync(config(workspace)))["meta"]
    assert (again.status, again.removes, again.adds) == ("ok", 2, 1)
    assert workspace.sandbox.meta.members(META_AUDIENCE) == meta_members(changed)


def still_processing(workspace: Workspace) -> dict:
    """Google takes longer than the pass waits (half a second): every request is still
    PROCESSING when the pass ends."""
    workspace.sandbox.google.processing_polls = 10_000
    data = config(workspace)
    data["audiences"] = [a for a in data["audiences"] if a["destination"] == "google"]
    data["destinations"]["google"]["settle_seconds"] = 0.5
    return data


def test_requests_still_processing_are_read_by_the_next_pass_not_sent_again(
    workspace: Workspace,
) -> None:
    write(workspace, EMAILS)
    data = still_processing(workspace)

    (first,) = workspace.sync(data)
    assert first.status == "ok" and set(first.request_statuses.values()) == {"PROCESSING"}

    workspace.sandbox.google.finish_processing()
    (second,) = workspace.sync(data)

    assert (second.status, second.adds, second.requests) == ("ok", 0, 0)
    assert any("3 applied, 0 not (sent again next pass), 0 still" in n for n in second.notes)
    (third,) = workspace.sync(data)  # nothing left to read
    assert not any("earlier passes" in note for note in third.notes)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(EMAILS)


def test_an_ingest_that_failed_after_its_pass_ended_is_sent_again(workspace: Workspace) -> None:
    write(workspace, EMAILS)
    data = still_processing(workspace)
    workspace.sandbox.google.fail_processing(times=1)

    (first,) = workspace.sync(data)
    assert first.status == "ok"  # nothing said otherwise yet
    assert len(workspace.sandbox.google.members(GOOGLE_LIST)) == 4

    workspace.sandbox.google.finish_processing()
    (second,) = workspace.sync(data)
    assert (second.status, second.unapplied) == ("incomplete", 2)
    assert "FAILED" in (second.error or "")

    (third,) = workspace.sync(data)
    assert (third.status, third.adds, third.requests) == ("ok", 2, 1)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(EMAILS)


def test_a_removal_google_no_longer_knows_is_sent_again(workspace: Workspace) -> None:
    """A removal still PROCESSING when its pass ended, applied nowhere, and then forgotten
    by Google (404): its members come back as in flight, and the next pass removes them."""
    write(workspace, EMAILS)
    data = still_processing(workspace)
    workspace.sandbox.google.processing_polls = 0
    assert [r.status for r in workspace.sync(data)] == ["ok"]

    write(workspace, EMAILS[:4])
    workspace.sandbox.google.processing_polls = 10_000
    workspace.sandbox.google.fail_processing(times=1)
    (removing,) = workspace.sync(data)
    assert (removing.status, removing.removes) == ("ok", 2)

    workspace.sandbox.google.forget_requests()
    (forgotten,) = workspace.sync(data)
    assert (forgotten.status, forgotten.unapplied) == ("incomplete", 2)
    assert "NOT_FOUND" in (forgotten.error or "")

    (again,) = workspace.sync(data)
    assert (again.status, again.removes, again.requests) == ("ok", 2, 1)
    assert workspace.sandbox.google.members(GOOGLE_LIST) == google_members(EMAILS[:4])

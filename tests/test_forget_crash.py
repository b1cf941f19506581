"""`syncd forget` killed with SIGKILL in the middle of its removals: running it again removes
every erased person from every audience and closes the record as done, because the removals
go through the journaled push (what was in flight is sent again)."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import TOKEN, Workspace, sha
from support.erasure import erasure_id, forget, removals, synced
from support.holdouts import google_emails, meta_emails

PEOPLE = [f"p{i}" for i in range(30)]
ERASED = PEOPLE[:20]
BATCH = 4  # 20 removals: 5 requests per audience, so a kill can land between two


def test_a_killed_forget_is_completed_by_the_next_one(workspace: Workspace) -> None:
    synced(workspace, PEOPLE)
    data = workspace.config_data()
    for destination in data["destinations"].values():
        destination["batch_size"] = BATCH
    workspace.write_config(data)
    people = workspace.root / "erase.txt"
    people.write_text("".join(f"{name}@example.com\n" for name in ERASED))
    workspace.sandbox.set_latency(0.3)  # each request in flight long enough to die in

    config = str(workspace.root / "syncd.yaml")
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd", "forget", config, "--kind", "email", "--file", str(people)],
        env={"TEST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while sum(map(len, removals(workspace).values())) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "forget sent no removal"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9, "forget ended before it could be killed mid-push"
    left = {sha(f"{name}@example.com") for name in ERASED}
    assert left & (meta_emails(workspace) | google_emails(workspace)), "nothing was left to do"

    workspace.sandbox.set_latency(0.0)
    resumed = forget(workspace)
    assert resumed.exit_code == 0, resumed.output
    kept = {sha(f"{name}@example.com") for name in PEOPLE[20:]}
    assert meta_emails(workspace) == google_emails(workspace) == kept
    status = forget(workspace, "--status", erasure_id(resumed), "--json")
    assert status.exit_code == 0 and '"status": "done"' in status.stdout

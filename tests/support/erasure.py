"""`syncd forget` as the erasure tests drive it: the command run on a workspace's config,
an audience pair synced first, and what the emulators were asked to remove."""

from __future__ import annotations

from click.testing import CliRunner, Result
from conftest import TOKEN, Workspace

from support.people import emails
from syncd.cli import main
from syncd.pipeline import sync_all

PEOPLE = [f"p{i}" for i in range(12)]


def forget(
    workspace: Workspace, *args: str, text: str | None = None, env: dict | None = None
) -> Result:
    """`syncd forget` on the workspace's config (written by `synced`), `text` on stdin."""
    path = workspace.root / "syncd.yaml"
    return CliRunner().invoke(
        main, ["forget", str(path), *args], input=text, env=env or {"TEST_TOKEN": TOKEN}
    )


def synced(workspace: Workspace, names: list[str] = PEOPLE, data: dict | None = None) -> None:
    """Both audiences hold `names` (emails at example.com)."""
    workspace.write_people(emails(*names))
    workspace.write_config(data)
    results = sync_all(workspace.config(data))
    assert [r.status for r in results] == ["ok", "ok"]


def removals(workspace: Workspace) -> dict[str, list[int]]:
    """Members per removal request each emulator applied."""
    meta = [r.count for r in workspace.sandbox.meta.requests if r.operation == "remove"]
    google = [r.count for r in workspace.sandbox.google.requests if r.operation == "remove"]
    return {"meta": meta, "google": google}


def erasure_id(result: Result) -> str:
    """The id of the first record `forget` printed."""
    first = result.stdout.splitlines()[0]
    assert first.startswith("erasure er-"), result.stdout
    return first.split()[1].rstrip(":")

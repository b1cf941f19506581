"""The test PostgreSQL server starts wherever the checkout is, even under a private folder.

As root the server runs as `nobody`; a clone under /root (or any 0700 folder) hides the
binaries from it. The test puts pgserver's installation under a 0700 folder, as a clone there
would have it, and starts a server from it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest
from postgres_server import find_bindir, postgres_server


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_the_server_starts_from_binaries_inside_a_private_folder(tmp_path: Path) -> None:
    bindir = find_bindir()
    installation, package = bindir.parent, bindir.parent.parent
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    site = private / "site-packages"
    shutil.copytree(installation, site / package.name / installation.name, symlinks=True)
    vendored = package.parent / f"{package.name}.libs"
    if vendored.is_dir():
        shutil.copytree(vendored, site / vendored.name, symlinks=True)
    hidden = site / package.name / installation.name / bindir.name
    with postgres_server(hidden) as server, psycopg.connect(server.uri) as connection:
        assert connection.execute("SELECT 1 + 1").fetchone() == (2,)
    assert private.stat().st_mode & 0o777 == 0o700  # the user's folder was left as it was

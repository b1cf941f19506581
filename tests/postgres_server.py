"""A throwaway PostgreSQL server for tests: initdb in a temp dir, listen on 127.0.0.1, stop and
delete everything on exit.

The binaries come from the `pgserver` wheel (PostgreSQL 16, a test dependency) or, when it is
not installed, from Debian's `postgresql` package. We drive initdb/pg_ctl ourselves rather
than through `pgserver.get_server`, which only allows trust auth on a socket, keeps a lock and
pid list in a shared runtime dir, and warns at import without XDG_RUNTIME_DIR. Driving them
directly gives password (scram) auth over TCP, as in production, and starts in under a second.

PostgreSQL refuses to run as root, so as root the server runs as `nobody`. `nobody` must be
able to run the binaries, and a checkout under a private folder (a clone in /root, any 0700
directory on the way to the virtualenv) hides them. Then the whole installation (bin, lib,
share: PostgreSQL finds lib and share relative to its binaries) is copied into the server's
own temp directory, which `nobody` owns. The copy is made only when `nobody` cannot run the
binaries in place, found by running `initdb --version` as `nobody`: permission bits, ACLs
and mount options all answer that one question, where reading mode bits would miss some.
Copying beats the alternatives: running as the checkout's owner is impossible (root), and
loosening the permissions of the user's folders is not the tests' business.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
RUN_AS_WHEN_ROOT = "nobody"
START_TIMEOUT_SECONDS = 30
#: Durability is worthless for a server that is deleted after the tests.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresServerError(RuntimeError):
    """The test server could not start; the message says why and how to fix it."""


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    bindir: Path

    @property
    def uri(self) -> str:
        return self.uri_for(self.user, self.password)

    def uri_for(self, user: str, password: str, dbname: str | None = None) -> str:
        """A libpq URI for another role; tests build roles with fewer rights this way."""
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname or self.dbname}"


def find_bindir() -> Path:
    """pgserver's bundled binaries first, then Debian's newest installed PostgreSQL."""
    spec = importlib.util.find_spec("pgserver")  # not imported: it warns and locks at import
    candidates = []
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresServerError(
        "no PostgreSQL binaries found for the test server: install the test extras "
        "(pip install -e '.[test]', which brings pgserver) or Debian's postgresql package "
        f"(apt-get install postgresql); looked in: {', '.join(map(str, candidates)) or 'none'}"
    )


@contextlib.contextmanager
def postgres_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """Start a fresh server (from ``find_bindir()`` unless given); yield how to reach it;
    always stop it and remove its files."""
    bindir = bindir if bindir is not None else find_bindir()
    run_as = RUN_AS_WHEN_ROOT if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
    data = root / "data"
    password = secrets.token_urlsafe(16)
    started = False
    try:
        _prepare(root, password, run_as)
        if run_as is not None and not _can_run(bindir, run_as):
            bindir = _copy_installation(bindir, root)
        _run(bindir, run_as, root, "initdb", *_initdb_args(data, root / "pwfile"))
        (root / "pwfile").unlink()
        port = _start(bindir, run_as, root, data)
        started = True
        yield PostgresServer("127.0.0.1", port, SUPERUSER, password, SUPERUSER, bindir)
    finally:
        if started:
            _stop(bindir, run_as, root, data)
        shutil.rmtree(root, ignore_errors=True)


def _prepare(root: Path, password: str, run_as: str | None) -> None:
    (root / "pwfile").write_text(password + "\n")
    if run_as is None:
        return
    try:
        account = pwd.getpwnam(run_as)
    except KeyError:
        raise PostgresServerError(
            f"running as root, the test server must run as user {run_as!r}, which does not "
            "exist; create it or run the tests as a normal user"
        ) from None
    root.chmod(0o700)
    for path in (root, root / "pwfile"):
        os.chown(path, account.pw_uid, account.pw_gid)


def _can_run(bindir: Path, run_as: str) -> bool:
    """Whether ``run_as`` can run the binaries where they are (every folder above them open
    to it); asked of the system itself, by running one as that user."""
    try:
        completed = subprocess.run(
            [str(bindir / "initdb"), "--version"],
            user=run_as,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # PermissionError on exec, most often
        return False
    return completed.returncode == 0


def _copy_installation(bindir: Path, root: Path) -> Path:
    """Copy the installation holding ``bindir`` under ``root``, which the server's user owns;
    returns the copy's bindir. The layout is kept: PostgreSQL finds lib and share relative to
    its binaries, and pgserver's initdb finds its libpq through the RPATH auditwheel wrote,
    ``$ORIGIN/../../../pgserver.libs``, so ``pgserver/pginstall`` is copied with the
    ``pgserver.libs`` beside it. (Debian's layout keeps share outside the installation, but
    Debian's binaries sit in /usr/lib, open to every user, and are never copied.)"""
    installation = bindir.parent
    package = installation.parent
    copy = root / "postgresql" / package.name / installation.name
    shutil.copytree(installation, copy, symlinks=True, ignore=shutil.ignore_patterns("include"))
    vendored = package.parent / f"{package.name}.libs"
    if vendored.is_dir():
        shutil.copytree(vendored, root / "postgresql" / vendored.name, symlinks=True)
    return copy / bindir.name


def _initdb_args(data: Path, pwfile: Path) -> list[str]:
    return [
        f"--pgdata={data}",
        f"--username={SUPERUSER}",
        f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256",
        "--auth-local=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]


def _start(bindir: Path, run_as: str | None, root: Path, data: Path) -> int:
    """Start on a free port; a port taken between choosing and binding is tried again."""
    for _ in range(3):
        port = _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                "-c unix_socket_directories=''",
                *(f"-c {setting}" for setting in FAST_SETTINGS),
            ]
        )
        log = root / "server.log"
        try:
            _run(
                bindir,
                run_as,
                root,
                "pg_ctl",
                "start",
                "--wait",
                f"--timeout={START_TIMEOUT_SECONDS}",
                f"--pgdata={data}",
                f"--log={log}",
                f"--options={options}",
            )
            return port
        except PostgresServerError as error:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            if "Address already in use" not in server_log:
                raise PostgresServerError(f"{error}\nserver log:\n{server_log}") from None
    raise PostgresServerError("could not find a free port for the test server after 3 tries")


def _stop(bindir: Path, run_as: str | None, root: Path, data: Path) -> None:
    try:
        _run(
            bindir, run_as, root, "pg_ctl", "stop", "--wait", "--mode=immediate", f"--pgdata={data}"
        )
    except PostgresServerError:
        pid_file = data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl failed yet the server runs: do not leave it behind
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


def _run(bindir: Path, run_as: str | None, cwd: Path, program: str, *args: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    try:
        completed = subprocess.run(
            [str(bindir / program), *args],
            user=run_as,
            cwd=cwd,
            env=env,
            # pg_ctl's server inherits stdout; a pipe would keep this call waiting for it.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=START_TIMEOUT_SECONDS + 10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise PostgresServerError(f"{program} could not run: {error}") from None
    if completed.returncode != 0:
        hint = (
            f" (as root, the server runs as {run_as!r}: it must be able to read and run "
            f"{bindir} and write to {cwd})"
            if run_as
            else ""
        )
        raise PostgresServerError(
            f"{program} failed with exit code {completed.returncode}{hint}:\n"
            f"{completed.stderr.strip()}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

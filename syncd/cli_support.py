"""What every `syncd` command shares: the CONFIG argument, loading a config or exiting
with its problems, and the exit codes. Commands in modules of their own (`syncd.cli`'s
LAZY) import it instead of `syncd.cli`, which imports them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.sources import SourceError
from syncd.state import StateUnavailable
from syncd.state.store import StateFormatError

EXIT_FAILED = 1
EXIT_CONFIG = 2

config_argument = click.argument(
    "config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path)
)


def load_config_or_exit(config_path: Path) -> SyncdConfig:
    """The config at `config_path`, or exit 2 after printing every problem in it."""
    try:
        return load_config(config_path)
    except ConfigError as error:
        click.echo(str(error), err=True)
        count = len(error.problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {config_path}", err=True)
        sys.exit(EXIT_CONFIG)


@contextmanager
def reported() -> Iterator[None]:
    """A warehouse or state that cannot be opened ends the command with its one-line message
    (which names the place and the fix) and exit 1, not a traceback."""
    try:
        yield
    except (SourceError, StateFormatError, StateUnavailable) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_FAILED)

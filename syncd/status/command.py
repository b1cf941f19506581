"""`syncd status CONFIG [--json] [--watch [SECONDS]]`: one screen for every audience, read
from the state without writing it."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from syncd.cli_support import EXIT_FAILED, config_argument, load_config_or_exit
from syncd.config import SyncdConfig
from syncd.state import StateUnavailable
from syncd.state.store import StateFormatError
from syncd.status import render
from syncd.status.gather import gather


@click.command(
    epilog=f"JSON keys: {render.JSON_KEYS}",
    context_settings={"max_content_width": 100},
)
@config_argument
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document for scripts.")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.1),
    is_flag=False,
    flag_value=5.0,
    default=None,
    metavar="[SECONDS]",
    help="Draw again every SECONDS (5 if not given) until Ctrl-C; write it after CONFIG. "
    "With --json, one document a line.",
)
def status(config_path: Path, as_json: bool, watch: float | None) -> None:
    """Every audience on one screen: its last pass (when, how long, outcome, error),
    members held, match rate, next scheduled run of `syncd run`, open alerts, erasures not
    confirmed and when its members are due to be sent again before the network expires
    them; above, the state, the audiences and the last spend pull.

    Reads only: it never creates a state (with none it says so) nor takes a lease. A DuckDB
    state is readable between passes: while a pass of `syncd sync` or `syncd run` holds the
    file, DuckDB lets no other process in: status waits a few seconds for it, then says
    the state is busy and exits 1. Exit codes: 0, or 1 when the state cannot be read.
    """
    config = load_config_or_exit(config_path)
    if watch is None:
        sys.exit(_draw(config, str(config_path), as_json, indent=2))
    code = 0
    try:
        while True:
            if sys.stdout.isatty():
                click.clear()
            code = _draw(config, str(config_path), as_json, indent=None)
            if not as_json:
                click.echo("")
            time.sleep(watch)
    except KeyboardInterrupt:
        sys.exit(code)


def screen(config: SyncdConfig, config_path: str) -> str:
    """The screen `syncd status CONFIG` prints now (`syncd demo` ends with it). Raises
    StateUnavailable when the state cannot be read."""
    return render.text(gather(config, dt.datetime.now(dt.UTC)), config_path)


def _draw(config: SyncdConfig, config_path: str, as_json: bool, indent: int | None) -> int:
    """One draw; the exit code it earns (1 when the state cannot be read)."""
    try:
        if as_json:
            drawn = render.as_json(gather(config, dt.datetime.now(dt.UTC)), indent=indent)
        else:
            drawn = screen(config, config_path)
    except (StateUnavailable, StateFormatError) as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_FAILED
    click.echo(drawn)
    return 0

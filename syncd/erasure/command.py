"""`syncd forget`: the command line of erasure requests (see `syncd.erasure`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import click

from syncd.cli_support import EXIT_FAILED, config_argument, load_config_or_exit, reported
from syncd.config import SyncdConfig
from syncd.erasure.digests import Digests, digest, every_network
from syncd.erasure.people import ERASABLE, read_people
from syncd.erasure.report import invalid_text, left_to_do, record_json, record_text
from syncd.erasure.resume import forget as apply_forget
from syncd.identity import IdentifierKind, InvalidIdentifier, normalize_country
from syncd.state import erasures as records
from syncd.state import open_state
from syncd.targets import targets


@click.command()
@config_argument
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([kind.value for kind in ERASABLE]),
    help="What each line holds; repeat it for several values a person (then each line is "
    "comma-separated, in the order of the kinds, and a cell may be empty).",
)
@click.option(
    "--file",
    "input_file",
    type=click.File("rb"),
    help="Read the people from this file (default: stdin when --kind is given).",
)
@click.option(
    "--default-country",
    metavar="CC",
    help="ISO country of phones written without +country code (without it they are invalid).",
)
@click.option(
    "--status",
    "status_id",
    metavar="ID",
    help="Print the record of erasure ID (per audience: outcome, members, requests, reason) "
    "and exit: 0 when done, 1 otherwise. Changes nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def forget(
    config_path: Path,
    kinds: tuple[str, ...],
    input_file: BinaryIO | None,
    default_country: str | None,
    status_id: str | None,
    as_json: bool,
) -> None:
    """Remove people from every audience of every destination that holds them, now.

    Reads one person a line (from --file, else stdin), e.g. `syncd forget syncd.yaml --kind
    email --file erase.txt`, or with two kinds `--kind email --kind phone --default-country
    US` and lines like `ann@example.com,+1 415 555 0100`. Each value is normalized and hashed
    by each network's rules; the members syncd holds that share one are removed through the
    ordinary push (journaled, paced, retried), in ceil(members / batch size) requests per
    audience, whatever the guardrails say. Later passes never send those people again.

    The request is recorded in the state, hashes only, with an id (the same people give the
    same id) and, per audience: done, not_held, pending or failed with the network's reason.
    Exits 0 only when every audience is done or not_held; otherwise run `syncd forget CONFIG`
    again (no --kind needed) to resume every unfinished request. A running daemon applies
    them too, on the audiences it holds, within 30 seconds. Invalid values are
    counted by line number, never printed. Progress goes to stderr.
    """
    config = load_config_or_exit(config_path)
    if status_id is not None:
        sys.exit(_print_status(config, status_id, as_json))
    if input_file is not None and not kinds:
        raise click.BadParameter("name what the file holds with --kind", param_hint="--file")
    country = _country(default_country)
    request = None
    if kinds:
        request = _read(kinds, input_file, country)
    with reported():
        touched = apply_forget(config, request, progress=_progress)
    _print_records(touched, as_json)
    left = [
        line for record in touched for line in left_to_do(record, _known(config), str(config_path))
    ]
    for line in left:
        click.echo(line, err=True)
    if not touched:
        click.echo("no erasure to apply", err=True)
    if left or (kinds and request is None):
        sys.exit(EXIT_FAILED)


def _read(
    kinds: tuple[str, ...],
    input_file: BinaryIO | None,
    country: str | None,
) -> Digests | None:
    """The request from the input, or None when it names nobody (said on stderr)."""
    identifier_kinds = [IdentifierKind(kind) for kind in kinds]
    if IdentifierKind.PHONE in identifier_kinds and country is None:
        click.echo("note: without --default-country, phones need their +country code", err=True)
    source = input_file or sys.stdin.buffer
    if input_file is None and sys.stdin.isatty():
        click.echo("reading people from the terminal, one a line; end with Ctrl-D", err=True)
    people = read_people(source, identifier_kinds)
    _progress(f"read {len(people):,} lines; hashing them for each network")
    request = digest(people, every_network(), country)
    for line in invalid_text(request.invalid):
        click.echo(line, err=True)
    if not request.people:
        click.echo("no valid value in the input: nothing to erase", err=True)
        return None
    _progress(
        f"erasure {request.erasure_id}: {request.people:,} people, "
        f"{len(request.invalid):,} invalid lines"
    )
    return request


def _print_status(config: SyncdConfig, erasure_id: str, as_json: bool) -> int:
    with reported(), open_state(config.state) as state:
        record = records.read(state.backend, erasure_id)
    if record is None:
        click.echo(f"error: no erasure {erasure_id} in the state", err=True)
        return EXIT_FAILED
    _print_records([record], as_json)
    return 0 if record.status == records.DONE else EXIT_FAILED


def _print_records(found: list[records.ErasureRecord], as_json: bool) -> None:
    if as_json:
        click.echo(record_json(found))
        return
    for record in found:
        click.echo(record_text(record))


def _known(config: SyncdConfig) -> set[tuple[str, str]]:
    return {
        (target.ref.destination, target.ref.audience_id)
        for target in targets(config, datetime.now(UTC))
    }


def _country(default_country: str | None) -> str | None:
    if default_country is None:
        return None
    try:
        return normalize_country(default_country)
    except InvalidIdentifier:
        raise click.BadParameter(
            f"{default_country!r} is not an ISO 3166-1 alpha-2 code",
            param_hint="--default-country",
        ) from None


def _progress(message: str) -> None:
    click.echo(f"forget: {message}", err=True)

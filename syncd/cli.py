"""The `syncd` command line. Exit codes: 0 done, 1 some audience failed or the command could
not run (the warehouse or the state cannot be opened), 2 bad config or usage."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import click

from syncd import __version__
from syncd.alerts.credentials import check_credentials
from syncd.alerts.delivery import settle as settle_alerts
from syncd.cli_support import EXIT_FAILED, config_argument, load_config_or_exit, reported
from syncd.config import SyncdConfig
from syncd.config.models import Audience
from syncd.daemon import Daemon
from syncd.destinations.registry import dialects
from syncd.identity import IdentifierKind, InvalidIdentifier, normalize_country, send_value
from syncd.lift.pnl import ATTRIBUTION_DAYS
from syncd.logs import configure_logging
from syncd.pipeline import AudienceResult, PassOptions, sync_all
from syncd.spend.report import build_report
from syncd.state import open_state
from syncd.summary import format_results

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

audience_option = click.option(
    "--audience",
    "audiences",
    multiple=True,
    metavar="NAME",
    help="Only this audience (segment->destination, or a segment name); repeatable.",
)

mass_removal_option = click.option(
    "--allow-mass-removal",
    is_flag=True,
    help="Let this pass empty an audience or remove more than guardrails.max_removal_fraction.",
)

mass_suppression_option = click.option(
    "--allow-mass-suppression",
    is_flag=True,
    help="Let this pass sync audiences whose suppressions leave out more than "
    "guardrails.max_suppressed_fraction of the segment.",
)


class _Commands(click.Group):
    """syncd's commands, with `demo` and `sandbox` imported only when one of them is asked
    for (or listed in the help): they bring the demo shop and every emulator, which a
    production pass never needs (tests/test_lean_install.py)."""

    LAZY: ClassVar[dict[str, str]] = {
        "audit": "syncd.audit",
        "demo": "syncd.demo.command",
        "forget": "syncd.erasure.command",
        "sandbox": "syncd.demo.command",
        "status": "syncd.status.command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            command = getattr(importlib.import_module(self.LAZY[cmd_name]), cmd_name)
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncd")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="How much to log on stderr. Logs carry counts and hashes, never raw identifiers.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="Log line format on stderr. Default: json for `syncd run`, text otherwise.",
)
@click.pass_context
def main(context: click.Context, log_level: str, log_format: str | None) -> None:
    """Keep Google Ads and Meta custom audiences equal to your warehouse segments.

    Start with `syncd demo`: it builds a demo shop in DuckDB, starts local emulators of
    both networks and syncs every segment, with no credentials. Then write your own YAML
    (see config/example.yaml), check it with `syncd validate`, preview with `syncd plan`,
    and apply with `syncd sync --once`.
    """
    json_lines = log_format == "json" or (
        log_format is None and context.invoked_subcommand == "run"
    )
    configure_logging(log_level, json_lines=json_lines)


@main.command()
@config_argument
def validate(config_path: Path) -> None:
    """Check a config file and report every problem, with its line and a hint."""
    config = load_config_or_exit(config_path)
    click.echo(
        f"{config_path}: ok ({len(config.segments)} segments, "
        f"{len(config.destinations)} destinations, {len(config.audiences)} audiences)"
    )


@main.command()
@config_argument
@audience_option
@mass_removal_option
@mass_suppression_option
@click.option(
    "--validate",
    is_flag=True,
    help="Also send the planned requests with Google's validateOnly flag: Google checks "
    "them and applies nothing (Data Manager API only; Meta has no such mode).",
)
def plan(config_path: Path, audiences: tuple[str, ...], validate: bool, **allowed: bool) -> None:
    """Show what a sync would add and remove, how many requests, and every guardrail
    decision; changes nothing, on the networks or in the state.

    With --validate, Google reads the exact requests the next sync would send and says
    whether it would take them (list id, permissions, terms, hashes); exits 1 if not.
    """
    config = load_config_or_exit(config_path)
    results = _run(config, audiences, apply=False, validate=validate, **allowed)
    click.echo(format_results(results, planned=True))
    if validate and any(result.status == "invalid" for result in results):
        sys.exit(EXIT_FAILED)


@main.command()
@config_argument
@audience_option
@click.option(
    "--once",
    is_flag=True,
    default=True,
    help="One pass over every audience, then exit (the only mode of this command).",
)
@mass_removal_option
@mass_suppression_option
def sync(config_path: Path, audiences: tuple[str, ...], once: bool, **allowed: bool) -> None:
    """Make every audience equal to its segment: one pass, then exit.

    Only changes are sent, in as few requests as the networks allow; a second pass with no
    segment change sends nothing. Exits 1 if any audience did not complete: failed, refused
    by a guardrail, deferred by a used-up quota or stopped (the others still sync). After
    the pass, each destination's credentials are asked about, at most hourly.
    """
    config = load_config_or_exit(config_path)
    results = _run(config, audiences, apply=True, **allowed)
    click.echo(format_results(results))
    check_credentials(config)  # after the pass, never before it; logs its own failures
    settle_alerts(config)  # a short, bounded wait for the webhooks, after the pass
    if any(result.status != "ok" for result in results):
        sys.exit(EXIT_FAILED)


@main.command()
def schema() -> None:
    """Print the config's JSON schema, with every field's description.

    Point your editor's YAML language server at it for completion and inline docs, e.g.
    `syncd schema > syncd.schema.json` and `# yaml-language-server: $schema=syncd.schema.json`.
    """
    click.echo(json.dumps(SyncdConfig.model_json_schema(), indent=2))


@main.command()
@config_argument
@click.option(
    "--listen",
    default="127.0.0.1:9108",
    show_default=True,
    metavar="HOST:PORT",
    help="Where /healthz, /readyz and /metrics are served (0.0.0.0:9108 in a pod).",
)
def run(config_path: Path, listen: str) -> None:
    """Run as a daemon: sync each audience on its schedule until SIGTERM.

    Schedules come from `schedule` (default every hour) or each audience's own. Passes run
    one at a time; replicas sharing one state store split audiences by lease, so two never
    push the same audience. SIGHUP reloads the config (an invalid one is refused and the
    running one kept); SIGTERM finishes the batch in flight and exits 0.
    """
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("write HOST:PORT, e.g. 0.0.0.0:9108", param_hint="--listen")
    config = load_config_or_exit(config_path)
    # Opened once before serving: a state that cannot be is a failed start, said in one line,
    # not a daemon that stays unready. The tables are created or upgraded here.
    with reported(), open_state(config.state):
        pass
    sys.exit(Daemon(config_path, config).run(host, int(port)))


@main.command()
@config_argument
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day to pull (default: spend.lookback_days before today; on a destination's "
    "first pull, spend.first_pull_days).",
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (default: today).")
def spend(config_path: Path, since: dt.datetime | None, until: dt.datetime | None) -> None:
    """Pull spend per audience from every destination into the spend table.

    Google: GAQL on ad_group_audience_view (a google_data_manager destination needs a
    `reporting` connection). Meta: Insights per ad set and day, split evenly across the
    custom audiences each ad set targets. Rows for audiences the config does not name are
    not kept. Pulling again is harmless: a window is replaced, never added twice. Exits 1 if
    any destination failed (the others are still written). See it with `syncd report`.
    """
    from syncd.spend.pull import pull_spend

    config = load_config_or_exit(config_path)
    with reported():
        summary = pull_spend(
            config, since.date() if since else None, until.date() if until else None
        )
    click.echo(summary.text())
    settle_alerts(config)  # the spend alerts the pull raised, in a short, bounded wait
    if summary.failed:
        sys.exit(EXIT_FAILED)


@main.command()
@config_argument
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: 30 days ago)."
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (default: today).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page with charts (opens offline).",
)
@click.option(
    "--attribution-days",
    type=click.IntRange(min=1),
    default=ATTRIBUTION_DAYS,
    show_default=True,
    help="P&L: a person's conversions count this many days after they entered their group.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "csv", "json"]),
    default="text",
    show_default=True,
    help="text: the spend table, then the P&L table. csv or json: only the P&L rows, with "
    "every number, for scripts.",
)
@click.option(
    "--pnl-table",
    metavar="NAME",
    help="Also write the P&L rows to table NAME (replaced each time), beside the spend "
    "table: in a PostgreSQL warehouse's schema; with a DuckDB warehouse (opened read-only, "
    "and replaced whole by exports) or any other, in the state's database.",
)
def report(
    config_path: Path,
    since: dt.datetime | None,
    until: dt.datetime | None,
    html_path: Path | None,
    attribution_days: int,
    output_format: str,
    pnl_table: str | None,
) -> None:
    """What each segment cost per network: spend, impressions, clicks, CPC, CPM, billing
    model, audience size and match rate, from the spend table (`syncd spend` fills it).

    Then the audience P&L, for audiences with a holdout: people treated and held out,
    conversion rates, incremental conversions and revenue with 95% intervals, cost per
    incremental conversion, incremental ROAS and the minimum detectable effect, from the
    holdout history, the `outcomes:` query and the spend table (see docs/lift.md).
    """
    from syncd.lift.pnl import build_pnl
    from syncd.lift.pnl_format import pnl_csv, pnl_json, pnl_rows, pnl_text

    config = load_config_or_exit(config_path)
    if pnl_table is not None and not _TABLE_NAME.fullmatch(pnl_table):
        raise click.BadParameter("a plain table name: letters, digits, _", param_hint="--pnl-table")
    last = until.date() if until else dt.datetime.now(dt.UTC).date()  # the window's days are UTC
    first = since.date() if since else last - dt.timedelta(days=30)
    with reported():
        spend_report = build_report(config, first, last)
        pnl = build_pnl(config, first, last, attribution_days)
    if output_format == "text":
        click.echo(spend_report.text())
        click.echo("")
        click.echo(pnl_text(pnl))
    else:
        click.echo((pnl_csv if output_format == "csv" else pnl_json)(pnl), nl=False)
    if pnl_table is not None:
        from syncd.lift.pnl_table import write_pnl_table

        with reported():
            where = write_pnl_table(config, pnl_table, pnl_rows(pnl))
        click.echo(f"wrote {len(pnl.audiences)} P&L rows to {pnl_table} in {where}", err=True)
    if html_path is not None:
        from syncd.lift.pnl_html import section

        html_path.write_text(spend_report.html(section(pnl)), encoding="utf-8")
        click.echo(f"wrote {html_path}")


@main.command(name="hash")
@click.option(
    "--network", type=click.Choice(sorted(dialects())), required=True, help="Whose rules."
)
@click.option(
    "--kind",
    type=click.Choice([k.value for k in IdentifierKind]),
    required=True,
    help="What each input line is.",
)
@click.option(
    "--default-country",
    metavar="CC",
    help="ISO country for phones written without +country code (and for US zips).",
)
def hash_command(network: str, kind: str, default_country: str | None) -> None:
    """Print what syncd would send for each raw value read on stdin, one per line.

    For debugging match rates: hash your own list the way syncd does and compare. Prints the
    lowercase hex SHA-256 (or the normalized value for kinds a network takes in clear, like
    Google's country and postal code, or a MADID), and an empty line for an invalid value.
    """
    rules = dialects()[network]
    country = None
    if default_country:
        try:
            country = normalize_country(default_country)
        except InvalidIdentifier:
            raise click.BadParameter(
                f"{default_country!r} is not an ISO 3166-1 alpha-2 code",
                param_hint="--default-country",
            ) from None
    for line in sys.stdin.buffer:
        raw = line.rstrip(b"\r\n")
        try:
            click.echo(send_value(rules, IdentifierKind(kind), raw, country))
        except InvalidIdentifier:
            click.echo("")


def _run(
    config: SyncdConfig,
    names: tuple[str, ...],
    *,
    apply: bool,
    allow_mass_removal: bool,
    allow_mass_suppression: bool = False,
    validate: bool = False,
) -> list[AudienceResult]:
    options = PassOptions(
        apply=apply,
        allow_mass_removal=allow_mass_removal,
        allow_mass_suppression=allow_mass_suppression,
        validate=validate,
    )
    only = _selector(config, names)
    with reported():
        return sync_all(config, options, only=only)


def _selector(config: SyncdConfig, names: tuple[str, ...]) -> Callable[[Audience], bool]:
    if not names:
        return lambda audience: True
    known = {a.name for a in config.audiences} | {a.segment for a in config.audiences}
    unknown = sorted(set(names) - known)
    if unknown:
        raise click.BadParameter(
            f"no audience {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            param_hint="--audience",
        )
    return lambda audience: audience.name in names or audience.segment in names

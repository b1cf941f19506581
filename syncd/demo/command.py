"""`syncd demo` and `syncd sandbox`: the whole loop on a laptop, with no credentials, on the
emulator of every network in the registry (`syncd.demo.emulators`). The emulators are
imported when one of the two commands runs, never when the CLI serves another."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.demo.addresses import DEFAULT_PORT_BASE
from syncd.demo.config import demo_yaml
from syncd.demo.lifts import ORDERS_TABLE, write_orders
from syncd.demo.opt_out import opt_out_pass
from syncd.demo.recovered import recovery_note
from syncd.demo.shop import build_shop
from syncd.destinations.registry import NETWORKS
from syncd.lift.pnl import build_pnl
from syncd.lift.pnl_format import pnl_text
from syncd.lift.pnl_html import section
from syncd.pipeline import AudienceResult, sync_all
from syncd.plan import audience_ref
from syncd.spend.pull import pull_spend
from syncd.spend.report import build_report
from syncd.state import open_state
from syncd.summary import format_results

if TYPE_CHECKING:
    from syncd.demo.emulators import Emulators

#: Days of spend the emulators are seeded with, ending today.
SPEND_DAYS = 14
#: Segments the demo's campaigns exclude rather than target: they never carry spend.
_EXCLUSION_SEGMENTS = ("recent_buyers",)


def seed_spend(
    config: SyncdConfig, emulators: Emulators, today: dt.date
) -> tuple[dt.date, dt.date]:
    """Realistic daily spend for the last SPEND_DAYS days, on campaigns over every audience
    of the config but the exclusion audiences, in every emulator that can hold spend."""
    start = today - dt.timedelta(days=SPEND_DAYS - 1)
    targeted: dict[str, list[str]] = {}
    for audience in config.audiences:
        if audience.audience_id is not None and audience.segment not in _EXCLUSION_SEGMENTS:
            targeted.setdefault(audience.destination, []).append(audience.audience_id)
    emulators.seed_spend(start, today, targeted)
    return start, today


def latency_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--latency-ms`` and ``--jitter-ms``: how long the emulators take to answer each
    request. Real networks take roughly 0.3-2 s per 10,000-member batch; the default, 0,
    keeps the demo and tests fast."""
    jitter = click.option(
        "--jitter-ms",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Up to this many milliseconds more per request, drawn uniformly (seeded).",
    )
    latency = click.option(
        "--latency-ms",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Milliseconds every emulator waits before answering each request (e.g. 400).",
    )
    return latency(jitter(command))


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".syncd-demo"),
    show_default=True,
    help="Where the shop, the config and the state are written (replaced on each run).",
)
@click.option(
    "--visitors",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    help="Visitors in the shop; at 20,000 the P&L finds the abandoned carts' lift.",
)
@latency_options
def demo(directory: Path, visitors: int, latency_ms: float, jitter_ms: float) -> None:
    """Run the whole loop locally: shop in DuckDB -> hashed audiences on emulated networks.

    Builds a deterministic shop (about 92% of visitors never buy, with the dirt real data
    has), starts an emulator of every network syncd syncs to (Meta, Google's Data Manager
    and Google Ads APIs, TikTok) on 127.0.0.1, syncs every playbook segment to Meta, Google
    and TikTok, then syncs again to show that an unchanged segment sends nothing. A person
    in several segments then opts out, and one more pass takes them out of every audience,
    as the emulators confirm. Then it
    closes the loop: two weeks of spend on the emulated campaigns are pulled back per
    audience, reported per segment, and drawn in report.html in the same folder. Orders
    placed in the week after the first sync carry a known true lift per segment (part of
    each segment is held out), and the audience P&L is printed beside the true lifts.
    """
    from syncd.demo.emulators import Emulators
    from syncd.sandbox.latency import Latency

    directory.mkdir(parents=True, exist_ok=True)
    shop = build_shop(directory / "shop.duckdb", visitors=visitors)
    click.echo(
        f"Shop: {shop.visitors:,} visitors, {shop.buyers:,} buyers "
        f"({shop.buyers / shop.visitors:.1%}), {shop.orders:,} orders -> {shop.path}"
    )
    config_path = directory / "syncd.yaml"
    config_path.write_text(demo_yaml("shop.duckdb"), encoding="utf-8")
    (directory / "state.duckdb").unlink(missing_ok=True)

    with Emulators.for_config(load_config(config_path)) as emulators:
        emulators.set_latency(Latency(latency_ms / 1000, jitter_ms / 1000))
        config = load_config(config_path, environ=emulators.environment())
        served = ", ".join(f"{e.api} {e.address}" for e in emulators.endpoints())
        click.echo(f"Sandbox: {served}")
        click.echo(f"Config: {config_path}\n\nFirst pass: every audience starts empty.")
        first = sync_all(config)
        click.echo(format_results(first))
        click.echo("\nSecond pass: no segment changed.")
        second = sync_all(config)
        click.echo(format_results(second))
        click.echo(_verdict(config, emulators, first, second))
        click.echo(opt_out_pass(config, emulators, shop.path))
        orders = write_orders(config, shop.path)
        click.echo(
            f"\nOrders: {orders.orders:,} placed in the week after the first sync, with a "
            f"known true lift per segment ({ORDERS_TABLE} in the shop; the P&L below)."
        )

        first_day, last_day = seed_spend(config, emulators, dt.date.today())
        click.echo(
            f"\nSpend: the emulated campaigns ran from {first_day} to {last_day}; "
            "pulling it back per audience."
        )
        pulled = pull_spend(config)
        click.echo(pulled.text())
        if pulled.failed:
            raise click.ClickException("the spend pull failed")
    report = build_report(config, first_day, last_day)
    click.echo(f"\n{report.text()}")
    pnl = build_pnl(config, first_day, orders.last_day)
    click.echo(f"\n{pnl_text(pnl)}\n\n{recovery_note(pnl, orders.segments)}")
    page = directory / "report.html"
    page.write_text(report.html(section(pnl)), encoding="utf-8")
    click.echo(f"\nReport with charts: {page.resolve()} (self-contained; open it in a browser).")
    click.echo(
        f"\nBy hand: `syncd sandbox --config {config_path}` in one shell, then "
        f"`syncd plan {config_path}` or `syncd sync --once {config_path}` in another, "
        f"and `syncd spend` / `syncd report --until {orders.last_day} --html report.html` "
        "on the same config."
    )
    from syncd.status.command import screen

    click.echo(f"\n$ syncd status {config_path}\n{screen(config, str(config_path))}")


def _verdict(
    config: SyncdConfig,
    emulators: Emulators,
    first: list[AudienceResult],
    second: list[AudienceResult],
) -> str:
    """Whether every audience synced, the second pass sent nothing, and each emulated
    audience holds exactly the hashed emails and phones the state says it holds."""
    failed = [r.audience for r in first + second if r.status != "ok"]
    resent = sum(r.requests for r in second)
    checked = [a for a in config.audiences if a.destination not in emulators.unemulated]
    mismatched = []
    with open_state(config.state) as state:
        for audience in checked:
            members = state.members(audience_ref(config, audience))
            held = emulators.identifiers(audience.destination, audience.audience_id or "")
            for column, hashes in held.items():
                if set(members.column(column).drop_null().to_pylist()) != hashes:
                    mismatched.append(audience.name)
                    break
    lines = [f"\nSecond pass sent {resent} requests."]
    lines.append(
        f"Emulated audiences equal the synced segments: {len(checked) - len(mismatched)}"
        f"/{len(checked)}."
    )
    if failed or mismatched or resent:
        lines.append(f"PROBLEM: failed {failed}, mismatched {mismatched}")
        raise click.ClickException("\n".join(lines))
    return "\n".join(lines)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create every audience this config names (else the emulators know none).",
)
@click.option(
    "--port-base",
    type=click.IntRange(min=0, max=65535 - len(NETWORKS)),
    default=DEFAULT_PORT_BASE,
    show_default=True,
    help="Each network's emulator binds the next port from here, in registry order ("
    + ", ".join(network.kind for network in NETWORKS)
    + "), as the demo's config expects; 0 binds free ports.",
)
@latency_options
def sandbox(config_path: Path | None, port_base: int, latency_ms: float, jitter_ms: float) -> None:
    """Serve an emulator of every network (or, with --config, of the config's networks) on
    127.0.0.1 until Ctrl-C or SIGTERM. With --config they hold the config's audiences and
    two weeks of spend.

    Membership lives in memory: restarting the sandbox empties every audience, so remove
    the config's state file too before syncing again.
    """
    from syncd.demo.emulators import Emulators
    from syncd.sandbox.latency import Latency

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    latency = Latency(latency_ms / 1000, jitter_ms / 1000)
    config = None
    if config_path is None:
        emulators = Emulators.for_destinations({}, {}, port_base=port_base, every_kind=True)
    else:
        try:
            config = load_config(config_path)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        emulators = Emulators.for_config(config, port_base=port_base)
    with emulators:
        emulators.set_latency(latency)
        if latency.seconds or latency.jitter:
            click.echo(
                f"Every answer waits {latency.seconds * 1000:g} ms "
                f"(+ up to {latency.jitter * 1000:g} ms)."
            )
        for endpoint in emulators.endpoints():
            click.echo(f"{endpoint.api} emulator: {endpoint.address}")
        for name in emulators.unemulated:
            click.echo(f"No emulator serves destination {name}: its network has none.")
        if config is not None:
            first_day, last_day = seed_spend(config, emulators, dt.date.today())
            click.echo(f"Spend from {first_day} to {last_day} is waiting to be pulled.")
        click.echo("In the shell that runs syncd against it, first:")
        for variable, value in emulators.environment().items():
            click.echo(f"  export {variable}={value}")
        click.echo("Serving until Ctrl-C or SIGTERM.")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()

"""`syncd demo` and `syncd sandbox`: the whole loop on a laptop, with no credentials."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.config.models import (
    GoogleAdsDestination,
    GoogleDataManagerDestination,
    MetaDestination,
)
from syncd.demo.segments import SEGMENTS
from syncd.demo.shop import build_shop
from syncd.pipeline import AudienceResult, sync_all
from syncd.plan import audience_ref
from syncd.sandbox import Sandbox
from syncd.sandbox.latency import Latency
from syncd.spend.pull import pull_spend
from syncd.spend.report import build_report
from syncd.state import open_state
from syncd.summary import format_results

if TYPE_CHECKING:
    from syncd.sandbox.google_ads import GoogleAdsEmulator

META_ENDPOINT_VARIABLE = "SYNCD_SANDBOX_META"
GOOGLE_ENDPOINT_VARIABLE = "SYNCD_SANDBOX_GOOGLE"
GOOGLE_ADS_ENDPOINT_VARIABLE = "SYNCD_SANDBOX_GOOGLE_ADS"
DEFAULT_META_PORT = 18001
DEFAULT_GOOGLE_PORT = 18002
DEFAULT_GOOGLE_ADS_PORT = 18003
#: Days of spend the emulators are seeded with, ending today.
SPEND_DAYS = 14
#: The audiences the demo's Meta ad sets are built on (its Google campaigns target every
#: segment but the exclusion audience, recent_buyers, which never carries spend).
_META_SPEND_SEGMENTS = ("abandoned_carts", "wishlist_users", "first_time_buyers")
_EXCLUSION_SEGMENTS = ("recent_buyers",)


def demo_config(shop_file: str) -> dict[str, Any]:
    """The demo's YAML: every playbook segment to one Meta and one Google audience."""
    segments = {
        name: {
            "description": segment.description,
            "sql": segment.sql,
            "identifiers": {
                "email": "email",
                "phone": "phone",
                "first_name": "first_name",
                "last_name": "last_name",
                "country": "country",
                "zip": "zip",
            },
            "default_country": "US",
        }
        for name, segment in SEGMENTS.items()
    }
    audiences = []
    for number, name in enumerate(SEGMENTS, start=1):
        audiences.append(
            {"segment": name, "destination": "meta", "audience_id": f"{23850000000000000 + number}"}
        )
        audiences.append(
            {"segment": name, "destination": "google", "audience_id": f"{9000000 + number}"}
        )
    return {
        "warehouse": {"kind": "duckdb", "path": shop_file},
        "segments": segments,
        "destinations": {
            "meta": {
                "kind": "meta",
                "ad_account_id": "act_1000",
                "access_token": "${META_ACCESS_TOKEN:-sandbox-token}",
                "endpoint": f"${{{META_ENDPOINT_VARIABLE}:-http://127.0.0.1:{DEFAULT_META_PORT}}}",
            },
            "google": {
                "kind": "google_data_manager",
                "operating_account_id": "1234567890",
                "access_token": "${GOOGLE_ACCESS_TOKEN:-sandbox-token}",
                "endpoint": f"${{{GOOGLE_ENDPOINT_VARIABLE}:-http://127.0.0.1:{DEFAULT_GOOGLE_PORT}}}",
                # Spend comes from the Google Ads API: the Data Manager API has no reports.
                "reporting": {
                    "developer_token": "${GOOGLE_ADS_DEVELOPER_TOKEN:-sandbox-developer-token}",
                    "access_token": "${GOOGLE_ACCESS_TOKEN:-sandbox-token}",
                    "endpoint": (
                        f"${{{GOOGLE_ADS_ENDPOINT_VARIABLE}:-127.0.0.1:{DEFAULT_GOOGLE_ADS_PORT}}}"
                    ),
                },
            },
        },
        "audiences": audiences,
        "state": {"path": "state.duckdb"},
    }


def sandbox_for(config: SyncdConfig, meta_port: int = 0, google_port: int = 0) -> Sandbox:
    """Emulators that know every audience the config names, so syncs against them succeed
    and a typo'd audience id fails as it would on the real network."""
    meta_ids, google_ids = [], []
    for audience in config.audiences:
        is_meta = isinstance(config.destinations[audience.destination], MetaDestination)
        (meta_ids if is_meta else google_ids).append(audience.audience_id)
    return Sandbox(
        meta_port=meta_port,
        google_port=google_port,
        meta_audiences=meta_ids,
        google_user_lists=google_ids,
    )


def google_ads_for(config: SyncdConfig, port: int = 0) -> GoogleAdsEmulator:
    """A Google Ads API emulator holding every Google user list the config names by id, on
    the account that owns it, for spend reports (a Data Manager destination's `reporting`).

    Start it before anything in the process opens a gRPC channel: it points grpc's trusted
    roots at the sandbox CA, and grpc reads them once per process.
    """
    from syncd.sandbox.google_ads import GoogleAdsEmulator

    customers: dict[str, list[tuple[str, int]]] = {}
    for audience in config.audiences:
        destination = config.destinations[audience.destination]
        if isinstance(destination, GoogleDataManagerDestination):
            customer = destination.operating_account_id
        elif isinstance(destination, GoogleAdsDestination):
            customer = destination.customer_id
        else:
            continue
        lists = customers.setdefault(customer, [])
        if audience.audience_id is not None:
            lists.append((audience.segment, int(audience.audience_id)))
    emulator = GoogleAdsEmulator(customers=list(customers) or ["1234567890"], port=port)
    for customer, lists in customers.items():
        for name, list_id in lists:
            emulator.add_user_list(name, customer_id=customer, user_list_id=list_id)
    return emulator


def seed_spend(
    config: SyncdConfig, sandbox: Sandbox, ads: GoogleAdsEmulator, today: dt.date
) -> tuple[dt.date, dt.date]:
    """Realistic daily spend for the last SPEND_DAYS days on the demo's campaigns: Meta ad
    sets over three audiences (one of them shared by two audiences, one excluding an
    audience), Google campaigns bidding per click and per thousand impressions."""
    start = today - dt.timedelta(days=SPEND_DAYS - 1)
    meta_ids: dict[str, list[str]] = {}
    google_ids: dict[str, list[int]] = {}
    for audience in config.audiences:
        destination = config.destinations[audience.destination]
        if audience.audience_id is None or audience.segment in _EXCLUSION_SEGMENTS:
            continue
        if isinstance(destination, MetaDestination):
            if audience.segment in _META_SPEND_SEGMENTS:
                meta_ids.setdefault(destination.ad_account_id, []).append(audience.audience_id)
        else:
            google_ids.setdefault(destination.account, []).append(int(audience.audience_id))
    for account, ids in meta_ids.items():
        sandbox.meta.generate_spend(start, today, ids, seed=2026, ad_account_id=account)
    for customer, lists in google_ids.items():
        ads.generate_spend(start, today, customer_id=customer, user_list_ids=lists, seed=2026)
    return start, today


@contextlib.contextmanager
def _emulators(
    config: SyncdConfig, meta_port: int, google_port: int, ads_port: int, latency: Latency
) -> Iterator[tuple[Sandbox, GoogleAdsEmulator]]:
    ads = google_ads_for(config, ads_port)
    ads.set_latency(latency.seconds, latency.jitter, seed=2)
    with ads, sandbox_for(config, meta_port, google_port) as sandbox:  # ads first: gRPC roots
        sandbox.set_latency(latency.seconds, latency.jitter)
        yield sandbox, ads


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
@click.option("--visitors", type=click.IntRange(min=100), default=5_000, show_default=True)
@latency_options
def demo(directory: Path, visitors: int, latency_ms: float, jitter_ms: float) -> None:
    """Run the whole loop locally: shop in DuckDB -> hashed audiences on emulated networks.

    Builds a deterministic shop (about 92% of visitors never buy, with the dirt real data
    has), starts emulators of the Meta Graph API and the Google Data Manager API on
    127.0.0.1, syncs every playbook segment to both networks, then syncs again to show
    that an unchanged segment sends nothing. Then it closes the loop: two weeks of spend
    on the emulated campaigns are pulled back per audience (Google through an emulated
    Google Ads API), reported per segment, and drawn in report.html in the same folder.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shop = build_shop(directory / "shop.duckdb", visitors=visitors)
    click.echo(
        f"Shop: {shop.visitors:,} visitors, {shop.buyers:,} buyers "
        f"({shop.buyers / shop.visitors:.1%}), {shop.orders:,} orders -> {shop.path}"
    )
    config_path = directory / "syncd.yaml"
    config_path.write_text(_yaml_with_header(demo_config("shop.duckdb")), encoding="utf-8")
    (directory / "state.duckdb").unlink(missing_ok=True)

    config = load_config(config_path)
    latency = Latency(latency_ms / 1000, jitter_ms / 1000)
    with _emulators(config, 0, 0, 0, latency) as (sandbox, ads):
        environ = {
            META_ENDPOINT_VARIABLE: sandbox.meta.base_url,
            GOOGLE_ENDPOINT_VARIABLE: sandbox.google.base_url,
            GOOGLE_ADS_ENDPOINT_VARIABLE: ads.endpoint,
        }
        config = load_config(config_path, environ=environ)
        click.echo(
            f"Sandbox: Meta {sandbox.meta.base_url}, Google {sandbox.google.base_url}, "
            f"Google Ads API {ads.endpoint}"
        )
        click.echo(f"Config: {config_path}\n\nFirst pass: every audience starts empty.")
        first = sync_all(config)
        click.echo(format_results(first))
        click.echo("\nSecond pass: no segment changed.")
        second = sync_all(config)
        click.echo(format_results(second))
        click.echo(_verdict(config, sandbox, first, second))

        first_day, last_day = seed_spend(config, sandbox, ads, dt.date.today())
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
    page = directory / "report.html"
    page.write_text(report.html(), encoding="utf-8")
    click.echo(f"\nReport with charts: {page.resolve()} (self-contained; open it in a browser).")
    click.echo(
        f"\nBy hand: `syncd sandbox --config {config_path}` in one shell, then "
        f"`syncd plan {config_path}` or `syncd sync --once {config_path}` in another, "
        f"and `syncd spend` / `syncd report --html report.html` on the same config."
    )


def _verdict(
    config: SyncdConfig,
    sandbox: Sandbox,
    first: list[AudienceResult],
    second: list[AudienceResult],
) -> str:
    failed = [r.audience for r in first + second if r.status != "ok"]
    resent = sum(r.requests for r in second)
    with open_state(config.state) as state:
        mismatched = []
        for audience in config.audiences:
            emulator = (
                sandbox.meta
                if isinstance(config.destinations[audience.destination], MetaDestination)
                else sandbox.google
            )
            held = state.member_count(audience_ref(config, audience))
            if len(emulator.members(audience.audience_id)) != held:
                mismatched.append(audience.name)
    lines = [f"\nSecond pass sent {resent} requests."]
    lines.append(
        f"Emulated audiences equal the synced segments: {len(config.audiences) - len(mismatched)}"
        f"/{len(config.audiences)}."
    )
    if failed or mismatched or resent:
        lines.append(f"PROBLEM: failed {failed}, mismatched {mismatched}")
        raise click.ClickException("\n".join(lines))
    return "\n".join(lines)


def _yaml_with_header(config: Mapping[str, Any]) -> str:
    header = (
        "# Written by `syncd demo`. Endpoints default to `syncd sandbox`'s ports; tokens\n"
        "# default to the sandbox's. For real accounts see config/example.yaml.\n"
    )
    return header + yaml.safe_dump(dict(config), sort_keys=False, width=100)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create every audience this config names (else the emulators know none).",
)
@click.option("--meta-port", type=int, default=DEFAULT_META_PORT, show_default=True)
@click.option("--google-port", type=int, default=DEFAULT_GOOGLE_PORT, show_default=True)
@click.option("--google-ads-port", type=int, default=DEFAULT_GOOGLE_ADS_PORT, show_default=True)
@latency_options
def sandbox(
    config_path: Path | None,
    meta_port: int,
    google_port: int,
    google_ads_port: int,
    latency_ms: float,
    jitter_ms: float,
) -> None:
    """Serve the Meta, Data Manager and Google Ads API emulators on 127.0.0.1 until Ctrl-C
    or SIGTERM. With --config they hold the config's audiences and two weeks of spend.

    Membership lives in memory: restarting the sandbox empties every audience, so remove
    the config's state file too before syncing again.
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    latency = Latency(latency_ms / 1000, jitter_ms / 1000)
    if config_path is None:
        with Sandbox(meta_port=meta_port, google_port=google_port) as emulators:
            emulators.set_latency(latency.seconds, latency.jitter)
            _announce(emulators)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        return
    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    from syncd.sandbox.google_ads import ROOTS_ENV

    with _emulators(config, meta_port, google_port, google_ads_port, latency) as (
        emulators,
        ads,
    ):
        first_day, last_day = seed_spend(config, emulators, ads, dt.date.today())
        _announce(emulators)
        click.echo(f"Google Ads API emulator: {ads.endpoint} (gRPC over TLS)")
        click.echo(f"Spend from {first_day} to {last_day} is waiting to be pulled.")
        click.echo(
            "For `syncd spend` in another shell to trust its certificate, run there first:\n"
            f"  export {ROOTS_ENV}={ads.ca_file}"
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def _announce(emulators: Sandbox) -> None:
    if emulators.meta.latency or emulators.meta.delay.jitter:
        click.echo(
            f"Every answer waits {emulators.meta.latency * 1000:g} ms "
            f"(+ up to {emulators.meta.delay.jitter * 1000:g} ms)."
        )
    click.echo(f"Meta Graph API emulator: {emulators.meta.base_url}")
    click.echo(f"Data Manager API emulator: {emulators.google.base_url}")

"""`syncd demo` and `syncd sandbox`: the whole loop on a laptop, with no credentials."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.config.models import MetaDestination
from syncd.demo.segments import SEGMENTS
from syncd.demo.shop import build_shop
from syncd.pipeline import AudienceResult, sync_all
from syncd.plan import audience_ref
from syncd.sandbox import Sandbox
from syncd.state import open_state
from syncd.summary import format_results

META_ENDPOINT_VARIABLE = "SYNCD_SANDBOX_META"
GOOGLE_ENDPOINT_VARIABLE = "SYNCD_SANDBOX_GOOGLE"
DEFAULT_META_PORT = 18001
DEFAULT_GOOGLE_PORT = 18002


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
def demo(directory: Path, visitors: int) -> None:
    """Run the whole loop locally: shop in DuckDB -> hashed audiences on emulated networks.

    Builds a deterministic shop (about 92% of visitors never buy, with the dirt real data
    has), starts emulators of the Meta Graph API and the Google Data Manager API on
    127.0.0.1, syncs every playbook segment to both networks, then syncs again to show
    that an unchanged segment sends nothing.
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
    with sandbox_for(config) as sandbox:
        environ = {
            META_ENDPOINT_VARIABLE: sandbox.meta.base_url,
            GOOGLE_ENDPOINT_VARIABLE: sandbox.google.base_url,
        }
        config = load_config(config_path, environ=environ)
        click.echo(f"Sandbox: Meta {sandbox.meta.base_url}, Google {sandbox.google.base_url}")
        click.echo(f"Config: {config_path}\n\nFirst pass: every audience starts empty.")
        first = sync_all(config)
        click.echo(format_results(first))
        click.echo("\nSecond pass: no segment changed.")
        second = sync_all(config)
        click.echo(format_results(second))
        click.echo(_verdict(config, sandbox, first, second))
    click.echo(
        f"\nBy hand: `syncd sandbox --config {config_path}` in one shell, then "
        f"`syncd plan {config_path}` or `syncd sync --once {config_path}` in another."
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
def sandbox(config_path: Path | None, meta_port: int, google_port: int) -> None:
    """Serve the Meta and Google emulators on 127.0.0.1 until Ctrl-C or SIGTERM.

    Membership lives in memory: restarting the sandbox empties every audience, so remove
    the config's state file too before syncing again.
    """
    if config_path is not None:
        try:
            config = load_config(config_path)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        emulators = sandbox_for(config, meta_port, google_port)
    else:
        emulators = Sandbox(meta_port=meta_port, google_port=google_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulators:
        click.echo(f"Meta Graph API emulator: {emulators.meta.base_url}")
        click.echo(f"Data Manager API emulator: {emulators.google.base_url}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()

"""`syncd run`: syncs every audience on its schedule until SIGTERM.

One worker thread runs passes, one at a time: the networks' rate limits, not this pod, set
the pace, and one writer keeps the state file simple. A second thread renews this
process's leases, so a long pass never loses its audiences to a replica, while a crashed
process stops renewing and its audiences pass to a replica after `daemon.lease_seconds`.
A third pulls spend every `spend.every` (first soon after start): reports are slow reads,
so they run beside the passes and never hold one up. The same thread asks the networks about
each destination's credentials every hour (`syncd.alerts.credentials`).

SIGTERM and SIGINT stop new work, interrupt a running segment query (the pass's `stop`
reaches its watcher, `syncd.sources.watch`), let the batch in flight finish (the journal
checkpoints the rest), release the leases and exit 0. SIGHUP reloads the config; a config
that does not validate is refused and the running one kept.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.alerts import overdue
from syncd.alerts.credentials import CHECK_EVERY, check_credentials
from syncd.alerts.delivery import settle as settle_alerts
from syncd.claims import Lease, lease_name, process_name
from syncd.config import ConfigError, SyncdConfig, load_config
from syncd.config.models import Schedule
from syncd.config.schedule import trigger
from syncd.erasure.resume import daemon_interval, forget
from syncd.hangup import EARLY_HANGUP
from syncd.health import Health, HealthServer
from syncd.metrics import SPEND_PULLS
from syncd.pipeline import PassOptions, sync_all
from syncd.state import open_state
from syncd.targets import audience_ref

log = logging.getLogger(__name__)

#: How late a run may start (a busy worker, a suspended pod) and still run once.
MISFIRE_GRACE_SECONDS = 300


class Daemon:
    def __init__(self, config_path: Path, config: SyncdConfig) -> None:
        self.config_path = config_path
        self.config = config
        self.holder = process_name()
        self.stop = threading.Event()
        self.health = Health(config.daemon.unready_after_failures)
        self._reload_requested = threading.Event()
        self._scheduler = BackgroundScheduler(
            executors={
                "passes": ThreadPoolExecutor(max_workers=1),
                "leases": ThreadPoolExecutor(max_workers=1),
                "spend": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            },
            timezone=UTC,
        )

    def run(self, host: str, port: int) -> int:
        """Serve until stopped; returns the exit code."""
        self._install_signal_handlers()
        server = HealthServer(self.health, host, port)
        server.start()
        self._apply(self.config)
        self._scheduler.start()
        log.info(
            "syncd run: %d audiences, health on %s:%d",
            len(self.config.audiences),
            host,
            server.port,
        )
        try:
            while not self.stop.is_set():
                if self._reload_requested.wait(timeout=0.5):
                    self._reload_requested.clear()
                    self.reload()
        finally:
            log.info("stopping: no new passes; a running query stops, a batch in flight ends")
            self._scheduler.shutdown(wait=True)
            self._release_leases()
            settle_alerts(self.config)  # a bounded wait; the rest goes out with the next run
            server.stop()
        log.info("stopped")
        return 0

    def reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as error:
            log.error("config reload refused, keeping the running config:\n%s", error)
            return
        self.config = config
        self._apply(config)
        log.info("config reloaded: %d audiences", len(config.audiences))

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())
        if EARLY_HANGUP.is_set():  # a SIGHUP while syncd was starting: reload now
            self._reload_requested.set()

    def _apply(self, config: SyncdConfig) -> None:
        """(Re)schedule every audience of `config` and the lease renewal."""
        self._scheduler.remove_all_jobs()
        self.health.config_loaded(
            {a.name for a in config.audiences}, config.daemon.unready_after_failures
        )
        for audience in config.audiences:
            schedule = audience.schedule or config.schedule
            self._scheduler.add_job(
                self._pass,
                trigger(schedule),
                args=[audience.name],
                id=audience.name,
                executor="passes",
                next_run_time=_first_run(schedule),
            )
        self._scheduler.add_job(
            self._pull_spend,
            IntervalTrigger(seconds=config.spend.interval_seconds, timezone=UTC),
            id="spend",
            executor="spend",
            next_run_time=datetime.now(UTC) + timedelta(seconds=random.uniform(0, 5)),
        )
        self._scheduler.add_job(
            self._check_credentials,
            IntervalTrigger(seconds=CHECK_EVERY.total_seconds(), timezone=UTC),
            id="credentials",
            executor="spend",
            next_run_time=datetime.now(UTC) + timedelta(seconds=random.uniform(0, 5)),
        )
        self._scheduler.add_job(  # light: one query, beside the lease renewals
            lambda: overdue.check_now(self.config),
            IntervalTrigger(seconds=overdue.CHECK_EVERY_SECONDS, timezone=UTC),
            id=overdue.OVERDUE,
            executor="leases",
        )
        self._scheduler.add_job(  # on the passes' worker: never beside a pass of an audience
            self._erase,
            IntervalTrigger(seconds=daemon_interval(config), timezone=UTC),
            id="erasures",
            executor="passes",
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.add_job(
            self._renew_leases,
            IntervalTrigger(seconds=config.daemon.lease_seconds / 3, timezone=UTC),
            id="leases",
            executor="leases",
            next_run_time=datetime.now(UTC),
        )

    def _pass(self, name: str) -> None:
        config = self.config
        lease = Lease(self.holder, config.daemon.lease_seconds, release=False)
        options = PassOptions(stop=self.stop, lease=lease)
        try:
            results = sync_all(config, options, only=lambda audience: audience.name == name)
        except Exception as error:  # the warehouse or the state cannot be opened
            log.error("%s: pass failed: %s", name, error, extra={"audience": name})
            self.health.pass_finished(name, "failed")
            return
        for result in results:
            self.health.pass_finished(result.audience, result.status)

    def _erase(self) -> None:
        """Unfinished erasures (`syncd forget` beside this daemon) applied on the audiences it
        holds now, not at their next scheduled pass; a failure is logged, the next look
        tries again."""
        config = self.config
        lease = Lease(self.holder, config.daemon.lease_seconds, release=False)
        try:
            touched = forget(config, None, lease=lease, stop=self.stop)
        except Exception as error:  # the state cannot be opened: the next look tries again
            log.error("could not apply pending erasures: %s", error)
            return
        for record in touched:
            log.info("erasure %s: %s", record.erasure_id, record.status)

    def _pull_spend(self) -> None:
        """One spend pull; its failures are logged and counted, and never stop the daemon."""
        from syncd.spend.pull import pull_spend

        config = self.config
        try:
            summary = pull_spend(config, sleep=self.stop.wait)
        except Exception as error:  # the spend table cannot be opened
            log.error("spend pull failed: %s", error)
            SPEND_PULLS.labels("*", "failed").inc()
            return
        for note in summary.notes:
            log.info("spend: %s", note)
        log.info(
            "spend pulled: %s",
            ", ".join(f"{rows} {network} rows" for network, rows in summary.rows_by_network.items())
            or "no destination has audiences",
            extra={"spend_rows": summary.rows_by_network},
        )

    def _check_credentials(self) -> None:
        """The credential alert rule; it logs its own failures."""
        check_credentials(self.config)

    def _renew_leases(self) -> None:
        config = self.config
        try:
            with open_state(config.state) as state:
                for audience in config.audiences:
                    lease = lease_name(audience_ref(config, audience))
                    state.hold_lease(lease, self.holder, config.daemon.lease_seconds)
        except Exception as error:
            self.health.state_checked(str(error))
            log.error("state store unreachable: %s", error)
        else:
            self.health.state_checked(None)

    def _release_leases(self) -> None:
        try:
            with open_state(self.config.state) as state:
                state.release_leases(self.holder)
        except Exception as error:
            log.warning("could not release leases (they expire by themselves): %s", error)


def _first_run(schedule: Schedule) -> datetime | None:
    """Interval audiences sync soon after start (jittered), not one interval later; cron
    audiences keep their times."""
    if schedule.cron is not None:
        return None
    return datetime.now(UTC) + timedelta(seconds=random.uniform(0, schedule.jitter_seconds))

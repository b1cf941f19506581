"""Each audience resolved once, before any stage of a pass runs: its segment, its
destination's settings and network capabilities, its state key, its refresh cutoff and its
consent defaults. The stages (read, plan, push, validate, settle) take a `Target` and never
look an audience up in the config again, so every stage of one pass sees the same answers:
one refresh cutoff, one consent, one network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from syncd.config.models import Audience, Consent, Segment, SyncdConfig
from syncd.config.suppressions import Suppressions
from syncd.destinations import Capabilities
from syncd.destinations.registry import capabilities_of
from syncd.destinations.settings import DestinationSettings
from syncd.lift.experiment import Experiment
from syncd.state import AudienceRef

__all__ = ["Target", "UnknownReference", "audience_ref", "resolve", "targets"]


class UnknownReference(ValueError):
    """An audience names a segment or destination the config does not have. The loader
    refuses such a file with the line; this is for configs built in code."""


@dataclass(frozen=True)
class Target:
    """One audience as every stage of a pass needs it, resolved from the config once."""

    audience: Audience
    segment: Segment
    destination: DestinationSettings
    capabilities: Capabilities
    #: How state keys the audience: by network account, so renaming a destination in YAML
    #: keeps what the audience holds.
    ref: AudienceRef
    #: Members last sent before this are sent again (the destination's refresh_after_days),
    #: from the pass's one clock; None where the network keeps members for good.
    refresh_before: dt.datetime | None
    #: The consent rows without consent columns get, where the network asks for consent
    #: (`Capabilities.needs_consent`); None where it does not.
    consent: Consent | None
    #: How long reading the segment may take: its own timeout, else the warehouse's.
    read_timeout: int
    #: The holdout the audience is in (its own, else its segment's), or None.
    experiment: Experiment | None = None
    #: The people no audience may hold (the config's `suppressions:`), or None.
    suppressions: Suppressions | None = None

    @property
    def name(self) -> str:
        """How logs, metrics and results name the audience: "segment->destination"."""
        return self.audience.name

    @property
    def network(self) -> str:
        return self.capabilities.network

    @property
    def batch_size(self) -> int:
        """Members per request: the destination's, never past the network's limit."""
        limit = self.capabilities.max_members_per_request
        return min(self.destination.batch_size or limit, limit)


def resolve(config: SyncdConfig, audience: Audience, now: dt.datetime) -> Target:
    """The audience's target, its refresh cutoff counted back from `now`. Raises
    UnknownReference when the audience names a segment or destination that is not there."""
    for key, known in (("segment", config.segments), ("destination", config.destinations)):
        name = getattr(audience, key)
        if name not in known:
            raise UnknownReference(
                f"audience {audience.name}: {key} {name!r} is not a key of {key}s "
                f"({', '.join(sorted(known)) or 'none'})"
            )
    destination = config.destinations[audience.destination]
    capabilities = capabilities_of(destination)
    refresh_days = destination.refresh_days()
    segment = config.segments[audience.segment]
    return Target(
        audience=audience,
        segment=segment,
        destination=destination,
        capabilities=capabilities,
        ref=AudienceRef(f"{destination.kind}:{destination.account}", audience.state_id),
        refresh_before=now - dt.timedelta(days=refresh_days) if refresh_days else None,
        consent=destination.consent_defaults() if capabilities.needs_consent else None,
        read_timeout=config.read_timeout(audience.segment),
        experiment=_experiment(audience, segment),
        suppressions=config.suppressions,
    )


def _experiment(audience: Audience, segment: Segment) -> Experiment | None:
    """The audience's own holdout, named after it, else its segment's, named after the
    segment: shared by every audience of the segment, so one person is held out of all."""
    if audience.holdout is not None:
        return Experiment.named(audience.name, audience.holdout.fraction, audience.holdout.salt)
    if segment.holdout is not None:
        return Experiment.named(audience.segment, segment.holdout.fraction, segment.holdout.salt)
    return None


def targets(config: SyncdConfig, now: dt.datetime) -> list[Target]:
    """Every audience's target, in config order, from one clock reading."""
    return [resolve(config, audience, now) for audience in config.audiences]


def audience_ref(config: SyncdConfig, audience: Audience) -> AudienceRef:
    """The audience's state key, for callers outside a pass (the daemon's leases, spend
    reports, the demo) that need nothing else of its target."""
    return resolve(config, audience, dt.datetime.now(dt.UTC)).ref

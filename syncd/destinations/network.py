"""One network as the registry knows it: everything the rest of syncd asks of a network,
in one record its folder exports, so that adding a network is a folder and a line in
`syncd.destinations.registry`, not a branch in every module that meets a destination."""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from syncd.destinations.base import Capabilities, Destination
from syncd.pacing import Pacer

if TYPE_CHECKING:
    from syncd.destinations.credentials import CredentialChecker
    from syncd.destinations.retry import RetryPolicy
    from syncd.destinations.settings import DestinationSettings
    from syncd.sandbox.emulated import EmulatorFactory


@dataclass(frozen=True)
class Opening:
    """What a pass hands the destination it opens: how its waits sleep (a stopping
    daemon's `Event.wait` cuts them short), the quota owner's pacer, and whether requests
    are only validated."""

    pacer: Pacer
    sleep: Callable[[float], object] = time.sleep
    validate_only: bool = False


class SpendPuller(Protocol):
    """Spend rows (`syncd.spend.table.SPEND_SCHEMA`) of the managed audiences over a window
    of days; raises `syncd.spend.table.SpendNotConfigured` when the destination's settings
    give no way to read it."""

    def __call__(
        self,
        destination: Any,
        audiences: Sequence[Any],
        since: dt.date,
        until: dt.date,
        *,
        pulled_at: dt.datetime,
        retry_policy: RetryPolicy,
        sleep: Callable[[float], object],
    ) -> Any: ...


@dataclass(frozen=True)
class Network:
    """A network: its config `kind`, its settings model, its capabilities (which carry its
    identity dialect and pace), how to open a client, how to pull its spend, and how to
    emulate it."""

    kind: str
    settings: type[DestinationSettings]
    capabilities: Capabilities
    open: Callable[[Any, Opening], Destination]
    #: "module:function" of its `SpendPuller`, loaded when a pull needs it: the spend code
    #: reads the config, which this registry builds, so it is named rather than imported.
    spend_puller: str | None = None
    #: "module:function" of its emulator's `EmulatorFactory` (`syncd.sandbox.emulated`), for
    #: `syncd demo`, `syncd sandbox` and tests: named, so a pass never imports an emulator.
    #: Records naming the same factory share one emulator.
    emulator: str | None = None
    #: "module:function" of its `CredentialChecker` (`syncd.destinations.credentials`): how
    #: the credential alert asks whether a destination's token still works and until when.
    credential_check: str | None = None

    def pull_spend(self) -> SpendPuller | None:
        """The network's spend puller, or None when syncd cannot read its spend."""
        puller: SpendPuller | None = _load(self.spend_puller)
        return puller

    def check_credentials(self) -> CredentialChecker | None:
        """The network's credential check, or None when it has nothing to ask."""
        checker: CredentialChecker | None = _load(self.credential_check)
        return checker

    def emulator_factory(self) -> EmulatorFactory | None:
        """What builds the network's emulator, or None when it has none."""
        factory: EmulatorFactory | None = _load(self.emulator)
        return factory

    @property
    def name(self) -> str:
        """Its name in results, metrics and spend rows (two kinds may share one: both
        Google paths are "google")."""
        return self.capabilities.network


def _load(reference: str | None) -> Any:
    """The object a "module:function" reference names, imported now (None stays None)."""
    if reference is None:
        return None
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)

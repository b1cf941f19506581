"""The version of the identity rules (`rules` and each network's `Dialect`), and what each
version changed, per network.

A changed rule gives some people a new member key: a pass removes them under the old key and
adds them under the new one, once. Fingerprints (`syncd.fingerprints`) carry the version, so
such rows take identity again; every plan records the version in its `identity_rules` check,
which the run record keeps, so the next plan can say why its members were re-keyed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

#: Raise it with every change to what a rule sends, and say what changed in CHANGES.
RULES_VERSION = 3
#: Passes recorded before versions were (no identity_rules check) ran version 1.
UNVERSIONED = 1
CHECK_NAME = "identity_rules"

#: By network name (`Capabilities.network`).
CHANGES: dict[int, dict[str, str]] = {
    2: {
        "google": "gmail.com and googlemail.com addresses lose their +tag (Data Manager "
        '"Format user data"), given names a title (Mrs.) and family names a generation (Jr.); '
        "emails holding control characters are refused",
        "meta": "EXTERN_ID is sent unhashed, as facebook-business sends it; names keep "
        "letters beyond a-z in UTF-8; emails holding control characters are refused",
    },
    3: {
        "tiktok": "phones are read by the row's country, which TikTok is not sent: national "
        "numbers were read as the default country's (a UK number as a US one)",
    },
}

_RECORDED = re.compile(rf"^{CHECK_NAME}: \w+ \(rules v(\d+)")


def recorded_version(checks: Sequence[str]) -> int:
    """The rules version a pass ran, from its recorded checks."""
    for check in checks:
        found = _RECORDED.match(check)
        if found:
            return int(found.group(1))
    return UNVERSIONED


def version_of_summary(summary: str | Mapping[str, object] | None) -> int | None:
    """The rules version in a run record's summary (JSON text or its dict); None without one."""
    if summary is None:
        return None
    record = json.loads(summary) if isinstance(summary, str) else summary
    checks = record.get("checks")
    return recorded_version(checks) if isinstance(checks, list) else None


def changes_since(network: str, version: int) -> list[str]:
    """What changed in `network`'s rules after `version`, oldest first."""
    return [
        CHANGES[number][network]
        for number in sorted(CHANGES)
        if number > version and network in CHANGES[number]
    ]

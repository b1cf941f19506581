"""The Graph API version syncd speaks: pinned here, and only here.

Every Graph call syncd makes (audience edits, ad sets, Insights) goes to this version unless a
destination's ``api_version`` overrides it, so an upgrade of facebook-business never moves
syncd to a version nobody tested here.

Meta's "Available Graph API Versions" table
(https://developers.facebook.com/docs/graph-api/changelog/versions/): v26.0 came out on
2026-07-29 with no end date yet; v25.0 lives until 2028-07-29, v22.0 until 2027-05-20, v21.0
until 2027-01-21; v20.0 ended on 2026-09-24. facebook-business 26.x is generated from v26.0
(its ``apiconfig.ads_api_config["API_VERSION"]``), which is why pyproject's floor is 26.0.
"""

from __future__ import annotations

__all__ = ["GRAPH_API_VERSION"]

GRAPH_API_VERSION = "v26.0"

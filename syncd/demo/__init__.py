"""The demo shop `syncd demo` syncs: a deterministic DuckDB database and its playbook segments."""

from syncd.demo.rows import RECENT_DAYS, REFERENCE_DATE
from syncd.demo.segments import SEGMENTS, Segment
from syncd.demo.shop import ShopSummary, build_shop

__all__ = ["RECENT_DAYS", "REFERENCE_DATE", "SEGMENTS", "Segment", "ShopSummary", "build_shop"]

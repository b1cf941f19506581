"""Check a warehouse by hand: read a segment's first batch and print its schema and row count.

    python scripts/check_warehouse.py syncd.yaml SEGMENT [--estimate-only]

It uses the config's real warehouse and credentials, so it is the end-to-end check the unit
tests (which never leave the machine) cannot be. It prints column names, types and null
counts, never a value. On BigQuery it first prints the dry-run estimate of bytes processed;
--estimate-only stops there, so nothing is billed. Exit codes: 0 read, 1 warehouse error,
2 config error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from syncd.config import ConfigError, load_config
from syncd.sources import SourceError, open_source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the syncd YAML file")
    parser.add_argument("segment", help="a segment name from the config")
    parser.add_argument(
        "--estimate-only", action="store_true", help="BigQuery: dry run only, bill nothing"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    segment = config.segments.get(args.segment)
    if segment is None:
        known = ", ".join(sorted(config.segments))
        print(f"no segment {args.segment!r}; segments: {known}", file=sys.stderr)
        return 2

    print(f"warehouse: {config.warehouse.kind}")
    try:
        started = time.monotonic()
        source = open_source(config.warehouse)
        print(f"connected in {time.monotonic() - started:.1f}s")
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        estimate = getattr(source, "estimate", None)
        if callable(estimate):
            print(f"dry run: the query would process {estimate(segment.sql):,} bytes")
            if args.estimate_only:
                return 0
        started = time.monotonic()
        first = next(iter(source.read(segment.sql)), None)
        seconds = time.monotonic() - started
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        source.close()
    if first is None:
        print("error: the source returned no batch at all", file=sys.stderr)
        return 1

    print(f"first batch: {first.num_rows:,} rows after {seconds:.1f}s")
    for field, column in zip(first.schema, first.columns, strict=True):
        print(f"  {field.name}: {field.type} ({column.null_count:,} null)")
    wanted = {f"identifiers.{kind.value}": name for kind, name in segment.identifiers.items()}
    missing = [f"{name} ({key})" for key, name in wanted.items() if name not in first.schema.names]
    if missing:
        print(f"error: mapped columns not in the result: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

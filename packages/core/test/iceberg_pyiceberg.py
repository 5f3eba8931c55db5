# Reads an Everlog Iceberg table with pyiceberg (Iceberg's Python implementation) and prints what it sees as JSON:
# every row, the data files a scan plans, and the files a timestamp-filtered scan plans.
# usage: python iceberg_pyiceberg.py <table location or metadata json> <out.json> [<from ms> <to ms>] [<as-of snapshot id>]
import json
import os
import sys
from datetime import datetime, timezone

from pyiceberg.expressions import And, GreaterThanOrEqual, LessThanOrEqual
from pyiceberg.table import StaticTable

location, out = sys.argv[1], sys.argv[2]
# An S3 endpoint (a local S3 server) comes from the environment, as pyiceberg's FileIO properties.
properties = {
    key: os.environ[env]
    for key, env in [
        ("s3.endpoint", "EVERLOG_TEST_S3_ENDPOINT"),
        ("s3.access-key-id", "EVERLOG_TEST_S3_ACCESS_KEY_ID"),
        ("s3.secret-access-key", "EVERLOG_TEST_S3_SECRET_ACCESS_KEY"),
        ("s3.region", "EVERLOG_TEST_S3_REGION"),
    ]
    if env in os.environ
}
table = StaticTable.from_metadata(location, properties)
snapshot_id = int(sys.argv[5]) if len(sys.argv) > 5 else None
scan = table.scan(snapshot_id=snapshot_id)
files = [t.file.file_path for t in scan.plan_files()]
arrow = scan.to_arrow()
rows = []
for r in arrow.to_pylist():
    ts = r["timestamp"]
    rows.append(
        [
            r["partition"],
            r["offset"],
            int(ts.timestamp() * 1000),
            r["key"].hex() if r["key"] is not None else None,
            r["value"].hex() if r["value"] is not None else None,
            [[h["key"], h["value"].hex() if h["value"] is not None else None] for h in r["headers"]],
        ]
    )
result = {
    "metadata": table.metadata_location,
    "snapshots": [str(s.snapshot_id) for s in table.metadata.snapshots],
    "files": files,
    "types": {f.name: str(f.type) for f in arrow.schema},
    "rows": rows,
}
if len(sys.argv) > 4:
    lo = datetime.fromtimestamp(int(sys.argv[3]) / 1000, tz=timezone.utc).isoformat()
    hi = datetime.fromtimestamp(int(sys.argv[4]) / 1000, tz=timezone.utc).isoformat()
    filtered = table.scan(
        row_filter=And(GreaterThanOrEqual("timestamp", lo), LessThanOrEqual("timestamp", hi)), snapshot_id=snapshot_id
    )
    result["filtered_files"] = [t.file.file_path for t in filtered.plan_files()]
    result["filtered_rows"] = filtered.to_arrow().num_rows
with open(out, "w") as f:
    json.dump(result, f)

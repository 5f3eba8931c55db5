"""Reads Everlog segment files with Parquet readers this project did not write, in one process.

Usage: python read_segments.py FILE...  Prints one JSON object: {file: {reader: {"rows": [...]} | {"error": "..."}}}.
Each row is [offset, timestamp_ms, key, value, [[header_key, header_value], ...]], offsets and timestamps as decimal
strings, bytes as hex (or "<length>:<sha256>" past 64 bytes), header keys as their UTF-8 bytes, null as null.
"""
import hashlib
import json
import sys


def canon(v):
    if v is None:
        return None
    if isinstance(v, str):
        v = v.encode("utf-8")
    v = bytes(v)
    return v.hex() if len(v) <= 64 else f"{len(v)}:{hashlib.sha256(v).hexdigest()}"


def row(offset, ts, key, value, headers):
    hs = [] if headers is None else headers
    return [str(offset), str(ts), canon(key), canon(value), [[canon(h["key"]), canon(h["value"])] for h in hs]]


def pyarrow_rows(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Page CRCs are checked on every page read (off by default in pyarrow).
    f = pq.ParquetFile(path, page_checksum_verification=True)
    t = f.read()
    cols = [t.column(n).to_pylist() for n in ("offset", "key", "value", "headers")]
    # Milliseconds whatever the file's unit (a safe cast: it fails rather than drop a fraction of a millisecond).
    ts = t.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_pylist()
    rows = [row(o, s, k, v, h) for o, s, k, v, h in zip(cols[0], ts, cols[1], cols[2], cols[3])]
    return rows, f.metadata.num_row_groups, str(t.schema.field("timestamp").type)


def polars_rows(path):
    import polars as pl

    df = pl.read_parquet(path)
    ts = df["timestamp"].dt.epoch("ms").to_list()
    return [
        row(o, s, k, v, h)
        for o, s, k, v, h in zip(df["offset"].to_list(), ts, df["key"].to_list(), df["value"].to_list(), df["headers"].to_list())
    ]


def duckdb_rows(path):
    import duckdb

    con = duckdb.connect()
    q = 'SELECT "offset", epoch_ms("timestamp"), "key", "value", headers FROM read_parquet(?)'
    return [row(*r) for r in con.execute(q, [path]).fetchall()]


def fastparquet_rows(path):
    import fastparquet

    pf = fastparquet.ParquetFile(path)
    # Flat columns only: fastparquet does not assemble a list of structs (headers).
    df = pf.to_pandas(columns=["offset", "timestamp", "key", "value"])
    dtype = str(df["timestamp"].dtype)
    per_ms = {"ns": 1_000_000, "us": 1_000}.get(dtype[len("datetime64["):][:2], 1) if dtype.startswith("datetime64[") else 1
    ts = df["timestamp"].astype("int64") // per_ms
    return [
        [str(o), str(s), canon(k), canon(v), None]
        for o, s, k, v in zip(df["offset"].tolist(), ts.tolist(), df["key"].tolist(), df["value"].tolist())
    ]


def main():
    out = {}
    for path in sys.argv[1:]:
        res = {}
        for name, fn in (("pyarrow", pyarrow_rows), ("polars", polars_rows), ("duckdb", duckdb_rows), ("fastparquet", fastparquet_rows)):
            try:
                r = fn(path)
                if name == "pyarrow":
                    rows, groups, ts_type = r
                    res[name] = {"rows": rows, "rowGroups": groups, "timestampType": ts_type}
                else:
                    res[name] = {"rows": r}
            except Exception as e:  # every failure is reported, the test decides
                res[name] = {"error": f"{type(e).__name__}: {e}"}
        out[path] = res
    json.dump(out, sys.stdout)


main()

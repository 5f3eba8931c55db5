"""One local Spark session (Hive support) serving SQL statements for a test: a JSON request per line on stdin,
a JSON answer per line on stdout. Started by @everlog/testkit's startSpark; argv[1] is a folder of its own (warehouse,
metastore, scratch), argv[2] a JSON object of extra Spark settings.

Request:  {"sql": "..."}
Answer:   {"columns": [...], "rows": [[...], ...]} or {"error": "..."}
Values: timestamps as epoch milliseconds (the session and this process run in UTC), binary as hex, maps and structs
as JSON objects, arrays as lists, decimals as strings.
"""
import calendar
import datetime
import decimal
import json
import os
import sys


def plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return calendar.timegm(v.timetuple()) * 1000 + v.microsecond // 1000
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if hasattr(v, "asDict"):
        return {k: plain(x) for k, x in v.asDict().items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return str(v)


def main():
    home = sys.argv[1]
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.master("local[1]")
        .appName("everlog-test")
        .config("spark.sql.warehouse.dir", os.path.join(home, "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={os.path.join(home, 'metastore')};create=true")
        .config("spark.local.dir", os.path.join(home, "scratch"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .enableHiveSupport()
    )
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    print(json.dumps({"ready": spark.version}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            df = spark.sql(req["sql"])
            rows = [[plain(x) for x in r] for r in df.collect()]
            answer = {"columns": df.columns, "rows": rows}
        except Exception as e:  # the test decides what an error means
            answer = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:2000]}
        print(json.dumps(answer), flush=True)
    spark.stop()


main()

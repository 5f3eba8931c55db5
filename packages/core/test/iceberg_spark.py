# Reads an Everlog Iceberg table with Spark and Iceberg's Spark runtime (local mode, one session) and writes what
# it sees as JSON: every row, the files of the `files` metadata table, time travel, and the files Iceberg's planner
# keeps for a timestamp range.
# usage: python iceberg_spark.py <table location> <as-of ms> <from ms> <to ms> <out.json>
import json
import os
import sys

from pyspark.sql import SparkSession

location, as_of, lo, hi, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
tmp = os.environ["EVERLOG_SPARK_TMP"]
spark = (
    SparkSession.builder.master("local[2]")
    .appName("everlog-iceberg")
    .config("spark.jars", os.environ["EVERLOG_ICEBERG_JAR"])
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.local.dir", tmp)
    .config("spark.sql.warehouse.dir", os.path.join(tmp, "warehouse"))
    .config("spark.sql.shuffle.partitions", "2")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")

ROW = """`partition`, `offset`, unix_millis(`timestamp`) AS ms, lower(hex(key)) AS key, lower(hex(value)) AS value,
         to_json(transform(headers, h -> array(h.key, lower(hex(h.value))))) AS headers"""


def rows(df):
    df.createOrReplaceTempView("t")
    return [
        [r["partition"], r["offset"], r["ms"], r["key"], r["value"], json.loads(r["headers"])]
        for r in spark.sql(f"SELECT {ROW} FROM t ORDER BY `partition`, `offset`").collect()
    ]


table = spark.read.format("iceberg").load(location)
result = {
    "schema": {f.name: f.dataType.simpleString() for f in table.schema.fields},
    "rows": rows(table),
    "files": [r["file_path"] for r in spark.read.format("iceberg").load(location + "#files").collect()],
    "as_of_rows": spark.read.format("iceberg").option("as-of-timestamp", str(as_of)).load(location).count(),
}

# The filtered read Spark runs, and the data files Iceberg's planner (the one Spark's scan uses) keeps for it.
filtered = table.where(f"`timestamp` >= timestamp_millis({lo}) AND `timestamp` <= timestamp_millis({hi})")
result["filtered_rows"] = filtered.count()
# Flat columns through Iceberg's vectorized Parquet reader (it fails on a MILLIS column; every file the table lists
# is TIMESTAMP(MICROS)): the sum of the timestamps checks every value.
vectorized = spark.read.format("iceberg").option("vectorization-enabled", "true").load(location)
result["vectorized"] = [
    str(v)
    for v in vectorized.selectExpr("count(*)", "sum(unix_millis(`timestamp`))", "sum(`offset`)").collect()[0]
]
# The same range through a predicate Spark cannot push into Iceberg's Parquet reader, and an offset range.
result["unpushed_rows"] = table.where(f"unix_millis(`timestamp`) BETWEEN {lo} AND {hi}").count()
result["offset_rows"] = table.where("`offset` BETWEEN 60 AND 110").count()
jvm = spark.sparkContext._jvm
iceberg_table = jvm.org.apache.iceberg.hadoop.HadoopTables(spark.sparkContext._jsc.hadoopConfiguration()).load(location)
E = jvm.org.apache.iceberg.expressions.Expressions
scan = iceberg_table.newScan().filter(
    getattr(E, "and")(E.greaterThanOrEqual("timestamp", lo * 1000), E.lessThanOrEqual("timestamp", hi * 1000))
)


def planned(scan):
    out = []
    it = scan.planFiles().iterator()
    while it.hasNext():
        out.append(it.next().file().location())
    return out


result["planned_files"] = planned(scan)
offsets = iceberg_table.newScan().filter(
    getattr(E, "and")(E.greaterThanOrEqual("offset", 60), E.lessThanOrEqual("offset", 110))
)
result["planned_offset_files"] = len(planned(offsets))
spark.stop()
with open(out, "w") as f:
    json.dump(result, f)

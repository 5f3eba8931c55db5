#!/usr/bin/env bash
# Installs every third-party tool the tests use, idempotently: Debian packages, a Python virtualenv from PyPI, and
# (sections below) Kafka's jars from Maven Central. `.ci/run` calls it, and `npm test` calls it first (pretest), so a
# fresh machine needs nothing by hand. Everything downloaded goes under one cache folder (EVERLOG_TOOL_CACHE, default
# ~/.cache/everlog), which @everlog/testkit reads; a second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
say() { [ "$quiet" = 1 ] || echo "test-deps: $*"; }
cache="${EVERLOG_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/everlog}"
mkdir -p "$cache"
export DEBIAN_FRONTEND=noninteractive

# --- Debian packages ---------------------------------------------------------------------------------------------
# Real third-party Kafka clients, reference compressors for the codec tests, a compose validator (no Docker engine
# needed) and a compiler for the optional native zstd binding that `npm ci` builds.
need=()
command -v kcat >/dev/null || need+=(kcat)
/usr/bin/python3 -c 'import kafka' 2>/dev/null || need+=(python3-kafka)
/usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null || need+=(python3-confluent-kafka)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v lz4 >/dev/null || need+=(lz4)
command -v zstd >/dev/null || need+=(zstd)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
# openssl makes the throwaway CA and certificates of the TLS/mTLS Kafka tests (packages/testkit/src/pki.ts).
command -v openssl >/dev/null || need+=(openssl)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing Debian packages: ${need[*]} (run this script as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- Python readers and clients from PyPI ----------------------------------------------------------------------------
# One virtualenv; scripts/requirements-test.txt pins what is in it. Re-installed only when that file changes.
venv="$cache/venv"
req=scripts/requirements-test.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "python virtualenv at $venv"
  (
    # Two checkouts installing at once would race inside pip: one at a time.
    flock 9
    [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  ) 9>"$cache/.venv.lock"
fi

# --- Java for Spark ------------------------------------------------------------------------------------------------
# pyspark (pinned in requirements-test.txt) runs a local JVM: the Athena DDL test and Spark's codec reads need Java 17+.
if ! command -v java >/dev/null; then
  say "apt-get install openjdk-17-jre-headless (for Spark)"
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: Java is missing (run this script as root, or install a JRE 17+)" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi

# --- Apache Iceberg's Spark runtime (Maven Central) --------------------------------------------------------------
# One shaded jar that lets the pinned pyspark read Iceberg tables; @everlog/testkit's icebergSparkJar() finds it.
iceberg_artifact="org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.1"
iceberg_jar="$cache/jars/iceberg-spark-runtime-4.0_2.13-1.10.1.jar"
if [ ! -s "$iceberg_jar" ]; then
  say "maven: $iceberg_artifact"
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "test-deps: maven or java is missing (run this script as root, or install them)" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq --no-install-recommends maven default-jre-headless >/dev/null
  fi
  mkdir -p "$cache/jars"
  mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$iceberg_artifact" -DoutputDirectory="$cache/jars" >/dev/null
fi

# --- Apache Kafka from Maven Central ------------------------------------------------------------------------------
# The broker the integration suites run against (and the Java clients the tests drive): kafka_2.13 with its runtime
# jars, resolved by packages/testkit/kafka/pom.xml into $cache/kafka/<version>/libs. Fetched once per version; a
# `.complete` marker makes a half-finished copy invisible. Versions: keep in step with packages/testkit/src/kafka.ts.
kafka_versions=(4.4.0 3.9.2)
jvm_need=()
command -v mvn >/dev/null || jvm_need+=(maven)
command -v javac >/dev/null || jvm_need+=(openjdk-17-jdk-headless)
if [ ${#jvm_need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: Apache Kafka needs ${jvm_need[*]} (run this script as root, or install them)" >&2
    exit 1
  fi
  say "apt-get install ${jvm_need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${jvm_need[@]}" >/dev/null
fi
for v in "${kafka_versions[@]}"; do
  [ -f "$cache/kafka/$v/.complete" ] && continue
  say "Apache Kafka $v (Maven Central)"
  mkdir -p "$cache/kafka/$v"
  staging=$(mktemp -d "$cache/kafka/$v/libs.tmp-XXXXXX")
  mvn -q -B -Dstyle.color=never -f packages/testkit/kafka/pom.xml "-Dkafka.version=$v" dependency:copy-dependencies "-DoutputDirectory=$staging"
  rm -rf "$cache/kafka/$v/libs"
  mv "$staging" "$cache/kafka/$v/libs"
  echo "$v" >"$cache/kafka/$v/.complete"
done

say "ready (cache: $cache)"

#!/usr/bin/env bash
# The Spark jars for the Spark speed layer (src/speed/spark-speed.ts).
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../fetch-jars.sh" "$here/pom.xml" "${HMS_SPARK_JARS:-$HOME/.cache/hms/spark-jars}" "Spark"

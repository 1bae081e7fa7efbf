#!/usr/bin/env bash
# The Hadoop jars (HDFS mini cluster, FsShell) for the HDFS test harness (test/helpers/hadoop-cluster.ts).
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../../jobs/fetch-jars.sh" "$here/pom.xml" "${HMS_HADOOP_JARS:-$HOME/.cache/hms/hadoop-jars}" "Hadoop"

#!/usr/bin/env bash
# The Hadoop Streaming jars for the MapReduce batch engine's local mode.
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../fetch-jars.sh" "$here/pom.xml" "${HMS_MAPREDUCE_JARS:-$HOME/.cache/hms/mapreduce-jars}" "Hadoop Streaming"

#!/usr/bin/env bash
# fetch-jars.sh POM CACHE_DIR WHAT: copies the jars a pom lists (with their dependencies) into a cache outside
# the repository, for `java -cp "<cache>/*"`. Skips the download when the cache holds the jars of this exact
# pom (a marker file with the pom's hash). Prints the cache directory on its last line of stdout.
set -euo pipefail
pom="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
cache="$2"
what="$3"
marker="$cache/.complete"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

complete() { [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; }

if complete; then echo "$cache"; exit 0; fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "fetch-jars: $tool not found on PATH" >&2; exit 2; }
done

mkdir -p "$(dirname "$cache")"
# Two test workers may ask at once: one downloads, the other waits and then finds the cache complete.
exec 9>"$cache.lock"
flock 9
if complete; then echo "$cache"; exit 0; fi

# A fresh directory, swapped in at the end: jars of an older pom must never share the classpath with these.
tmp="$(mktemp -d "$cache.new.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-jars: downloading the $what jars into $cache (once per pom change)" >&2
mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$tmp" >&2
echo "$want" >"$tmp/.complete"
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "fetch-jars: $(find "$cache" -name '*.jar' | wc -l) jars, $(du -sh "$cache" | cut -f1)" >&2
echo "$cache"

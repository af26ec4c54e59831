#!/usr/bin/env bash
# Installs the Java senders of the end-to-end tests (tests/clients/java:
# the OpenTelemetry Java agent and the legacy Jaeger Java client) from Maven
# Central into a cache outside the clone, and prints the folder holding
# their jars. The cache is keyed by pom.xml's content, so a changed pom is
# fetched again:
#   SPOOR_TOOLS_DIR  (default /var/tmp/spoor-tools)
#     └── m2/                        Maven's local repository
#     └── java-clients-<hash>/*.jar  the jars the tests put on the classpath
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
cd "$(dirname "$0")/../.."
pom=tests/clients/java/pom.xml
tools_dir=${SPOOR_TOOLS_DIR:-/var/tmp/spoor-tools}
hash=$(sha256sum "$pom" | cut -c1-12)
dir=$tools_dir/java-clients-$hash
if [ ! -f "$dir/.complete" ]; then
  command -v mvn >/dev/null || { echo "java-clients.sh: Maven (mvn) is needed" >&2; exit 1; }
  echo "java-clients.sh: fetching the Java test clients into $dir (once)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" "$tools_dir/m2"
  mvn -q -B -f "$pom" -Dmaven.repo.local="$tools_dir/m2" \
    dependency:copy-dependencies -DoutputDirectory="$dir.tmp" -DincludeScope=runtime >&2
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir"

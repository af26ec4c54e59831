#!/bin/bash
# The container image's HEALTHCHECK, with no curl in the image: asks
# Spoor's admin listener for GET /status over bash's /dev/tcp and succeeds
# only on a 200 answer (Spoor answers 503 while it starts or stops).
#
#   spoor-healthcheck [HOST:PORT]   default 127.0.0.1:13133
#
# scripts/check-dockerfile.sh runs this very file against a release build.
set -u
addr=${1:-127.0.0.1:13133}
host=${addr%:*}
port=${addr##*:}
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /status HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
status_line=
IFS= read -r -t 5 status_line <&3 || true
exec 3<&-
case "$status_line" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "spoor-healthcheck: ${status_line:-no answer} from $addr/status" >&2; exit 1 ;;
esac

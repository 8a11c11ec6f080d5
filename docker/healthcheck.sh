#!/bin/bash
# Container health probe for jobd: GET /healthz on the port jobd listens on, exit 0 on a 200.
# nginx.Dockerfile bakes it in too, for the balancer's own GET /lb-health.
#
# Plain bash (its /dev/tcp) and coreutils' timeout, both already in debian:bookworm-slim, so the
# image needs no curl or wget (which would add ~10 MB of libraries). It reads JOBD_LISTEN, so it
# follows the port when the container runs with another listen address (e.g. podman
# --network host with JOBD_LISTEN=127.0.0.1:PORT); a wildcard host is probed on loopback.
#
# Usage: jobd-healthcheck [HOST:PORT [PATH]]
#        (default: $JOBD_LISTEN, else 127.0.0.1:8080; PATH /healthz)
set -u

listen=${1:-${JOBD_LISTEN:-127.0.0.1:8080}}
path=${2:-/healthz}
port=${listen##*:}
host=${listen%:*}
host=${host#[}
host=${host%]}
case $host in
  "" | 0.0.0.0 | "*") host=127.0.0.1 ;;
  ::) host=::1 ;;
esac

# timeout bounds connect + request + read even if jobd accepts and never answers. Any failure
# exits 1: Docker reserves 2, and timeout's 124 means nothing to it.
# shellcheck disable=SC2016  # expanded inside the container / the child shell
timeout 3 bash -c '
  exec 3<>"/dev/tcp/$1/$2" || exit 1
  printf "GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n" "$3" >&3
  IFS=" " read -r proto status _ <&3 || exit 1
  [[ $proto == HTTP/1.* && $status == 200 ]] || { echo "$3: ${proto:-no answer} ${status:-}" >&2; exit 1; }
' healthcheck "$host" "$port" "$path" || exit 1

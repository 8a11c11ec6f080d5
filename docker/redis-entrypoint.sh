#!/bin/sh
# redis-entrypoint.sh: the ENTRYPOINT of redis.Dockerfile.
#   redis-entrypoint [REDIS-SERVER OPTIONS]   redis-server with /etc/redis/jobd.conf
#   redis-entrypoint healthcheck              exit 0 when the server answers PING with PONG
# A password comes from JOBD_REDIS_PASSWORD or the file JOBD_REDIS_PASSWORD_FILE names (jobd's own
# variables, so one secret serves both); it goes to redis-server on stdin, not in argv, so ps
# does not show it (the _FILE variant keeps it out of the container's environment too).
set -eu

password=""
if [ -n "${JOBD_REDIS_PASSWORD_FILE:-}" ]; then
  password=$(cat "$JOBD_REDIS_PASSWORD_FILE")
elif [ -n "${JOBD_REDIS_PASSWORD:-}" ]; then
  password=$JOBD_REDIS_PASSWORD
fi

if [ "${1:-}" = healthcheck ]; then
  if [ -n "$password" ]; then export REDISCLI_AUTH="$password"; else unset REDISCLI_AUTH; fi
  # redis-cli exits 0 on NOAUTH or LOADING too: only PONG is healthy.
  [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
  exit
fi

if [ -z "$password" ]; then
  exec redis-server /etc/redis/jobd.conf "$@"
fi
# A config line's double-quoted string: escape backslashes and quotes. "-" (last) reads it.
quoted=$(printf '%s' "$password" | sed 's/\\/\\\\/g; s/"/\\"/g')
exec redis-server /etc/redis/jobd.conf "$@" - <<CONF
requirepass "$quoted"
CONF

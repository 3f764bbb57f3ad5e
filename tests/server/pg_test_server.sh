#!/usr/bin/env bash
# A throwaway PostgreSQL server for the relay's tests, from Debian's `postgresql` package.
#
#   tests/server/pg_test_server.sh start DIR   initdb + pg_ctl start; listens only on the Unix
#                                               socket DIR/.s.PGSQL.5432 (no TCP port at all)
#   tests/server/pg_test_server.sh stop DIR    stop (fast) and remove DIR
#
# initdb and postgres refuse to run as root, so under root both run as `nobody`, in DIR (which
# must sit where `nobody` can reach it, e.g. under /tmp). The superuser is "alliance", trusted
# on the socket only; the data is fsync'ed as a production server's would be.
set -euo pipefail
cmd="${1:?start or stop}"
dir="${2:?directory}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_test_server: PostgreSQL is not installed (deploy/install-deps.sh installs it)" >&2
  exit 1
fi
as_owner=()
if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u nobody --); fi

case "$cmd" in
  start)
    if [ -f "$dir/data/postmaster.pid" ]; then
      "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 700 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown nobody:nogroup "$dir"; fi
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U alliance --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync > "$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses= -p 5432 -c max_connections=400 -c shared_buffers=64MB" \
      start > /dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "pg_test_server: serving on $dir/.s.PGSQL.5432"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac

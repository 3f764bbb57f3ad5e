#!/bin/sh
# Entrypoint of the alliance-relay container image (deploy/Containerfile).
#
#   container-entrypoint.sh [serve]     initialize the data directory on first start, then
#                                       exec `alliance-relay serve` (PID 1: gets SIGTERM/SIGHUP)
#   container-entrypoint.sh health      the HEALTHCHECK: `alliance-relay status` against the
#                                       relay in this container (gRPC health service)
#   container-entrypoint.sh ARGS...     any other alliance-relay command (backup, check, ...)
#
# Environment (the image sets the defaults shown):
#   ALLIANCE_DATA=/var/lib/alliance-relay  data directory (the volume). Initialized only when it
#                                       is empty (a `lost+found` alone counts as empty); a
#                                       directory holding anything else is never touched.
#   ALLIANCE_LISTEN=0.0.0.0:7443        gRPC address
#   ALLIANCE_METRICS_LISTEN=0.0.0.0:9464   /metrics address; empty disables it
#   ALLIANCE_TLS_CERT=/etc/alliance/tls/tls.crt, ALLIANCE_TLS_KEY=/etc/alliance/tls/tls.key
#                                       used when the certificate file exists (a mounted
#                                       Secret); without them the relay refuses a non-loopback
#                                       plaintext address, as outside a container
#   ALLIANCE_TLS_CA=/etc/alliance/tls/ca.crt   CA the health check verifies the relay with
#                                       (default: the certificate itself)
#   ALLIANCE_CONFIG=/etc/alliance/relay.toml   read when it exists; the variables above override
#                                       its keys
#   ALLIANCE_INSECURE=1                 allow plaintext on a non-loopback address (tests only)
#
# The bootstrap invite made on first start is written to $ALLIANCE_DATA/bootstrap-invite
# (mode 0600), never to the log: read it once with `podman exec <container> cat ...`, then
# delete it.
set -eu

relay=${ALLIANCE_RELAY_BIN:-alliance-relay}
data=${ALLIANCE_DATA:-/var/lib/alliance-relay}
listen=${ALLIANCE_LISTEN:-0.0.0.0:7443}
metrics=${ALLIANCE_METRICS_LISTEN-0.0.0.0:9464}
cert=${ALLIANCE_TLS_CERT:-/etc/alliance/tls/tls.crt}
key=${ALLIANCE_TLS_KEY:-/etc/alliance/tls/tls.key}
ca=${ALLIANCE_TLS_CA:-/etc/alliance/tls/ca.crt}
config=${ALLIANCE_CONFIG:-/etc/alliance/relay.toml}

log() { echo "container-entrypoint: $*" >&2; }

# True when $data holds nothing but (perhaps) the lost+found of a fresh filesystem.
data_is_empty() {
  [ -z "$(ls -A "$data" 2>/dev/null | grep -vx 'lost+found' || true)" ]
}

initialize() {
  umask 077
  mkdir -p "$data"
  out=$("$relay" init --data "$data")
  printf '%s\n' "$out" | tail -n 1 > "$data/bootstrap-invite"
  log "initialized a new relay database in $data"
  log "the one-time bootstrap invite for the first clinic admin is in $data/bootstrap-invite"
}

health() {
  set -- status --address "127.0.0.1:${listen##*:}" --timeout 3
  if [ -f "$cert" ]; then
    if [ -f "$ca" ]; then set -- "$@" --ca-file "$ca"; else set -- "$@" --ca-file "$cert"; fi
  fi
  exec "$relay" "$@"
}

serve() {
  if data_is_empty; then initialize; fi
  set -- serve --data "$data" --listen "$listen" --metrics-listen "$metrics"
  if [ -f "$config" ]; then set -- "$@" --config "$config"; fi
  if [ -f "$cert" ]; then set -- "$@" --tls-cert "$cert" --tls-key "$key"; fi
  if [ "${ALLIANCE_INSECURE:-0}" = 1 ]; then set -- "$@" --insecure; fi
  exec "$relay" "$@"
}

case "${1:-serve}" in
  serve) serve ;;
  health) health ;;
  *) exec "$relay" "$@" ;;
esac

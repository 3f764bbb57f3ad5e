#!/usr/bin/env bash
# Installs every Debian 12 package Alliance needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg queries (well under a second).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  libsodium-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libabsl-dev libcli11-dev libtomlplusplus-dev libspdlog-dev nlohmann-json3-dev
  libcpp-httplib-dev
  # The clang thread-safety build (deploy/test.sh).
  clang libclang-rt-14-dev
  # Comparison benchmarks only.
  libolm-dev libsignal-protocol-c-dev libssl-dev
  # Process-level tests and the quick start.
  procps python3 openssl
  # tests/deploy: manifests parsed as YAML, /metrics by the Prometheus client's parser, the
  # container image built from a debootstrap'ed Debian 12 and run by podman (runc: crun cannot
  # run on hosts with hybrid cgroups), the unit checked by systemd-analyze.
  python3-yaml python3-prometheus-client podman runc debootstrap systemd
  # The app: QR codes, and its browser tests in headless Chromium.
  libqrencode-dev chromium chromium-driver python3-selenium
  # The relay's second storage backend (libpq), and the PostgreSQL server its tests start
  # themselves (initdb and pg_ctl in a temporary directory, as an unprivileged user).
  libpq-dev postgresql
)

# axe-core (the browser tests' accessibility check) comes from npm's registry into the build
# directory; npm itself from Debian when the machine has no Node.js of its own.
if ! command -v npm > /dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "alliance: installing ${#missing[@]} missing package(s): ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

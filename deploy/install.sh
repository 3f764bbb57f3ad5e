#!/usr/bin/env bash
# Installs the Alliance relay on this machine (run as root), or removes it again.
#
#   sudo deploy/install.sh                 # uses ./build, building it first if needed
#   sudo deploy/install.sh --build DIR     # binaries from another build directory
#   sudo deploy/install.sh --uninstall     # binaries and unit only: data and config are kept
#
# What it does, each step skipped when already done (running it twice changes nothing):
#   * installs alliance-relay and alliance into PREFIX/bin (default /usr/local), and this guide
#     into PREFIX/share/doc/alliance/README.md;
#   * creates the system user and group `alliance-relay` (no login, home = the data directory);
#   * creates /var/lib/alliance-relay (0700) and /etc/alliance/tls (0700), owned by that user;
#   * installs deploy/relay.toml as /etc/alliance/relay.toml unless that file already exists;
#   * installs deploy/alliance-relay.service into /etc/systemd/system (its paths rewritten for
#     PREFIX) and enables it, when systemd is running; it does not start it: run
#     `alliance-relay init` first (see the end of the output).
#
# Options:
#   --build DIR    build directory holding server/alliance-relay and client/alliance.
#                  Default: ./build. Built (cmake + ninja) when the binaries are missing.
#   --prefix DIR   installation prefix. Default: /usr/local.
#   --root DIR     install into DIR as if it were / (like DESTDIR): nothing outside DIR is
#                  touched, systemd is never called, and the user is created only if
#                  DIR/etc/passwd exists (useradd --root). For packaging and tests.
#   --uninstall    remove the binaries, the guide and the unit (disabling it first); never the
#                  data directory, the configuration, the TLS files or the user.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build"
prefix=/usr/local
root=/
uninstall=false

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --uninstall) uninstall=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done

case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo $0 $*)" >&2
  exit 1
fi
build=$(cd "$build" 2>/dev/null && pwd || echo "$build")
root=${root%/}
user=alliance-relay
bindir="$root$prefix/bin"
docdir="$root$prefix/share/doc/alliance"
unit="$root/etc/systemd/system/alliance-relay.service"
confdir="$root/etc/alliance"
datadir="$root/var/lib/alliance-relay"

say() { echo "install.sh: $*"; }

# systemd is asked only on the real machine, and only when it is the running init.
systemd_running() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

if $uninstall; then
  if systemd_running && [ -f "$unit" ]; then
    systemctl disable --now alliance-relay.service || true
  fi
  for f in "$bindir/alliance-relay" "$bindir/alliance" "$docdir/README.md" "$unit"; do
    if [ -e "$f" ]; then rm -f "$f"; say "removed $f"; fi
  done
  rmdir "$docdir" 2>/dev/null || true
  if systemd_running; then systemctl daemon-reload; fi
  say "kept $datadir (data), $confdir (configuration, TLS) and the user $user."
  say "Remove them by hand only once the data is backed up elsewhere or no longer needed."
  exit 0
fi

# 1. Binaries: from the build directory, building them when missing.
relay_bin="$build/server/alliance-relay"
cli_bin="$build/client/alliance"
if [ ! -x "$relay_bin" ] || [ ! -x "$cli_bin" ]; then
  say "no binaries in $build; building alliance-relay and alliance"
  "$src/deploy/install-deps.sh"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$build" --target alliance-relay alliance
fi
install -d -m 0755 "$bindir" "$docdir"
install -m 0755 "$relay_bin" "$cli_bin" "$bindir/"
install -m 0644 "$src/deploy/README.md" "$docdir/README.md"
say "installed $bindir/alliance-relay and $bindir/alliance"

# 2. The system user. In a --root tree, only when it has its own user database.
useradd_args=(--system --user-group --home-dir /var/lib/alliance-relay --no-create-home
              --shell /usr/sbin/nologin --comment "Alliance relay")
owner=""
if [ -z "$root" ]; then
  if ! getent passwd "$user" > /dev/null; then
    useradd "${useradd_args[@]}" "$user"
    say "created system user $user"
  fi
  owner="$(id -u "$user"):$(id -g "$user")"
elif [ -f "$root/etc/passwd" ]; then
  if ! grep -q "^$user:" "$root/etc/passwd"; then
    # The shell lives in the target tree, which may not have it yet: useradd only warns.
    useradd --root "$root" "${useradd_args[@]}" "$user" 2> >(grep -v 'missing or non-executable shell' >&2)
    say "created system user $user in $root"
  fi
  owner=$(awk -F: -v u="$user" '$1 == u { print $3 ":" $4 }' "$root/etc/passwd")
else
  say "$root has no etc/passwd: user $user not created, directories left owned by root"
fi

# 3. Directories the relay writes: data, and the TLS files `alliance-relay tls init` makes.
install -d -m 0755 "$confdir"
for d in "$datadir" "$confdir/tls"; do
  if [ ! -d "$d" ]; then install -d -m 0700 "$d"; say "created $d"; fi
  chmod 0700 "$d"
  if [ -n "$owner" ]; then chown "$owner" "$d"; fi
done

# 4. Configuration: the example only when there is none; an edited file is never replaced.
if [ -e "$confdir/relay.toml" ]; then
  say "kept existing $confdir/relay.toml (the current example is $src/deploy/relay.toml)"
else
  install -m 0644 "$src/deploy/relay.toml" "$confdir/relay.toml"
  say "installed $confdir/relay.toml: edit listen, tls_cert, tls_key and metrics_listen"
fi

# 5. The systemd unit, with its paths pointed at PREFIX.
install -d -m 0755 "$(dirname "$unit")"
tmp_unit=$(mktemp)
trap 'rm -f "$tmp_unit"' EXIT
sed -e "s|/usr/local/bin/|$prefix/bin/|g" -e "s|/usr/local/share/doc/|$prefix/share/doc/|g" \
  "$src/deploy/alliance-relay.service" > "$tmp_unit"
install -m 0644 "$tmp_unit" "$unit"
say "installed $unit"
if systemd_running; then
  systemctl daemon-reload
  systemctl enable alliance-relay.service
  say "enabled alliance-relay.service (not started)"
else
  say "systemd is not running here (or --root was given): skipped systemctl daemon-reload/enable"
fi

cat <<EOF

Next steps:
  sudo -u $user $prefix/bin/alliance-relay init --data /var/lib/alliance-relay   # note the invite
  sudo -u $user $prefix/bin/alliance-relay tls init --host relay.clinic.example --out /etc/alliance/tls
  sudo editor /etc/alliance/relay.toml
  sudo systemctl enable --now alliance-relay
  $prefix/bin/alliance-relay status --address 127.0.0.1:7443 --ca-file /etc/alliance/tls/ca.pem
EOF

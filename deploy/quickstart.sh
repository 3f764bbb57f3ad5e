#!/usr/bin/env bash
# Quick start: installs what is missing, builds, starts alliance-relay on 127.0.0.1 with its data
# under ./var, then builds a small clinic through real invites (an admin, a therapist, a client),
# has the client write and the therapist answer, and prints both views and the safety numbers.
# The relay keeps running afterwards; the script prints what to type next.
#
# Demo only: the three demo passphrases are written to files under ./var so the commands can be
# scripted. Real users type their passphrase at the prompt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./deploy/install-deps.sh

jobs="${ALLIANCE_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$jobs" --target alliance alliance-relay

relay_bin="$root/build/server/alliance-relay"
cli_bin="$root/build/client/alliance"
var="$root/var"
addr="${ALLIANCE_DEMO_ADDRESS:-127.0.0.1:7443}"

# A previous demo's relay is stopped and its data replaced.
if [ -f "$var/relay.pid" ] && kill -0 "$(cat "$var/relay.pid")" 2>/dev/null; then
  kill -TERM "$(cat "$var/relay.pid")"
  for _ in $(seq 50); do kill -0 "$(cat "$var/relay.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$var"
mkdir -p "$var"
chmod 700 "$var"

echo "== Starting the relay on $addr (data: var/relay, log: var/relay.log)"
invite=$("$relay_bin" init --data "$var/relay" | tail -n 1)
nohup "$relay_bin" serve --data "$var/relay" --listen "$addr" --log-file "$var/relay.log" \
  > "$var/relay.out" 2>&1 &
echo $! > "$var/relay.pid"
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then break; fi
  sleep 0.1
done

as() {  # as <who> <alliance args...>
  local who=$1
  shift
  "$cli_bin" --profile "$var/$who" --passphrase-file "$var/$who.pass" "$@"
}
for who in admin therapist client; do
  head -c 24 /dev/urandom | base64 > "$var/$who.pass"
  chmod 600 "$var/$who.pass"
done

echo "== The clinic admin redeems the bootstrap invite"
as admin init > /dev/null
as admin --relay "$addr" register "$invite" --name "Clinic Admin"
therapist_invite=$(as admin --json admin invite --role therapist | sed 's/.*"code":"\([0-9a-f]*\)".*/\1/')

echo "== The therapist joins and invites a client"
as therapist init > /dev/null
as therapist --relay "$addr" register "$therapist_invite" --name "Dr. Rivera"
client_invite=$(as therapist --json admin invite --role client | sed 's/.*"code":"\([0-9a-f]*\)".*/\1/')

echo "== The client joins"
as client init > /dev/null
as client --relay "$addr" register "$client_invite" --name "Sam"

echo "== The client writes"
as client send therapist "Hi Dr. Rivera, work has been stressful again. Could we talk about it on Tuesday?"
echo "== The therapist reads and answers"
as therapist history client
as therapist send Sam "Thanks for letting me know, Sam. Yes, let's make it our first topic on Tuesday."

echo
echo "== What the client sees"
as client history therapist
echo
echo "== What the therapist sees"
as therapist history Sam
echo
echo "== Safety numbers (compare them out of band; they match)"
echo -n "client:    "; as client safety-number therapist
echo -n "therapist: "; as therapist safety-number Sam

echo
echo "== The therapist proposes a care agreement; the client countersigns it"
as therapist agreement propose Sam --time-zone Europe/Berlin \
  --window "mon 09:00-12:00" --window "wed 14:00-17:00" --window "fri 09:00-12:00" \
  --reply-within-hours 16 --retention-days 180 \
  --emergency "This is not an emergency service: call 112 or the crisis line 0800 111 0111."
as client agreement accept therapist
as client agreement show therapist

cat <<NEXT

The relay is still running (pid $(cat "$var/relay.pid"), log var/relay.log).

Open the app as the client (or --profile var/therapist as the therapist); it prints a one-time
link and opens it in your browser. The passphrase to unlock it is in var/client.pass:

  build/client/alliance --profile var/client app

Or, as the client or the therapist, on the command line:

  build/client/alliance --profile var/client --passphrase-file var/client.pass send therapist "See you Tuesday"
  build/client/alliance --profile var/therapist --passphrase-file var/therapist.pass watch
  build/client/alliance --profile var/therapist --passphrase-file var/therapist.pass inbox --due
  build/client/alliance --profile var/client --passphrase-file var/client.pass concern open therapist "Sleep"
  build/client/alliance --profile var/client --passphrase-file var/client.pass verify therapist --confirm "<all 60 digits>"
  build/client/alliance --profile var/admin --passphrase-file var/admin.pass admin audit

Stop the relay with:  kill \$(cat var/relay.pid)
NEXT

#!/usr/bin/python3
"""How fast the app feels (issue 10, "Measured in a benchmark"): a benchmark, not a test.

A real relay, a client and a therapist (profiles made with the CLI), each in its own
`alliance app` and its own headless Chromium. Measured in the pages (performance.now() and
Date.now(); both browsers run on this machine, so their clocks agree):

  unlock -> list   submitting the unlock form until the conversation list is rendered, repeated
                   with Lock / Unlock (client profile made with `init --passphrase-cost
                   interactive`), and once with the default (moderate) Argon2id cost (therapist)
  send -> shown    clicking Send in one browser until the message is in the other browser's
                   open thread (relay -> app -> event stream -> page fetch -> DOM), alternating
                   client -> therapist and therapist -> client

  /usr/bin/python3 tests/bench/app_bench.py --build build                  (100 messages, 10 unlocks)
  /usr/bin/python3 tests/bench/app_bench.py --build build --messages 10 --unlocks 2   (app_bench_smoke)

Needs the same as the browser test: chromium, chromium-driver, python3-selenium (Debian's
/usr/bin/python3), and build targets alliance and alliance-relay.
"""

import argparse
import os
import secrets
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'app'))
from browser_harness import (  # noqa: E402
    App, Build, Cleanup, Failure, Profile, Relay, check, contact_ids, go, log, new_driver,
    percentile, wait_css, wait_shell, wait_until)

# Resolves with the ms from submitting the unlock form to a rendered conversation list.
UNLOCK_JS = '''
const [pass, done] = arguments;
const input = document.getElementById('passphrase');
input.value = pass;
const form = document.getElementById('unlock-form');
const t0 = performance.now();
form.requestSubmit();
(function poll() {
  if (document.querySelector('#contacts a.contact-link') && document.querySelector('#main > *')) {
    done(performance.now() - t0);
  } else if (performance.now() - t0 > 120000) {
    done(-1);
  } else {
    requestAnimationFrame(poll);
  }
})();
'''

# Records, per body text, when an incoming message first shows in the open thread.
WATCH_JS = '''
window.__seen = window.__seen || {};
const rec = () => {
  for (const b of document.querySelectorAll('#messages li.message.in .body')) {
    if (!(b.textContent in window.__seen)) window.__seen[b.textContent] = Date.now();
  }
};
if (!window.__watch) {
  window.__watch = new MutationObserver(rec);
  window.__watch.observe(document.body, {subtree: true, childList: true, characterData: true});
}
rec();
'''

SEND_JS = '''
const box = document.getElementById('compose-body');
box.value = arguments[0];
const t0 = Date.now();
document.getElementById('send').click();
return t0;
'''


def timed_unlock(d, passphrase):
    wait_css(d, '#unlock-form', 30, 'the unlock form')
    ms = d.execute_async_script(UNLOCK_JS, passphrase)
    check(ms >= 0, 'unlock did not render the conversation list within 2 minutes')
    wait_shell(d, 'the conversation list')
    return ms


def lock(d):
    d.find_element('id', 'lock').click()
    wait_css(d, '#unlock-form', 30, 'the unlock form after Lock')


def open_thread(d, contact_id):
    go(d, f'#/c/{contact_id}')
    wait_css(d, '#compose-form', 30, 'the thread')
    wait_until(lambda: d.find_element('id', 'compose-body').is_enabled(), 30, 'compose enabled')
    d.execute_script(WATCH_JS)


def row(label, values):
    if not values:
        return f'{label:<44} {0:>5}'
    return (f'{label:<44} {len(values):>5} {percentile(values, 50):>9.1f} '
            f'{percentile(values, 99):>9.1f} {max(values):>9.1f}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(os.path.dirname(__file__), '..', '..', 'build'))
    ap.add_argument('--messages', type=int, default=100)
    ap.add_argument('--unlocks', type=int, default=10)
    args = ap.parse_args()
    build = Build(args.build)
    cleanup = Cleanup()
    started = time.monotonic()
    try:
        work = cleanup.tempdir('alliance-app-bench-')
        relay = Relay(build, cleanup, work)
        relay.start()
        admin = Profile(build, work, 'admin', 'bench admin passphrase')
        admin.cli('init', '--passphrase-cost', 'interactive')
        admin.cli('register', relay.bootstrap_invite, '--name', 'Admin', relay=relay.address)
        therapist = Profile(build, work, 'therapist', 'bench therapist passphrase')
        therapist.cli('init')  # the default (moderate) cost: measured once
        therapist.cli('register', admin.invite('therapist'), '--name', 'Dr. Bench',
                      relay=relay.address)
        client = Profile(build, work, 'client', 'bench client passphrase')
        client.cli('init', '--passphrase-cost', 'interactive')
        client.cli('register', therapist.invite('client'), '--name', 'Sam', relay=relay.address)
        client.cli('send', 'therapist', 'Hello, I have joined.')
        therapist.cli('history', 'client')  # fetches the client's first message
        therapist.cli('send', 'Sam', 'Welcome, Sam.')
        client.cli('history', 'therapist')

        t_app = App(build, cleanup, therapist.dir, os.path.join(work, 't-app.log'))
        c_app = App(build, cleanup, client.dir, os.path.join(work, 'c-app.log'))
        cb = new_driver(cleanup)
        tb = new_driver(cleanup)
        cb.get(c_app.launch_url)
        tb.get(t_app.launch_url)

        unlock_fast = []
        for i in range(args.unlocks):
            unlock_fast.append(timed_unlock(cb, client.passphrase))
            if i + 1 < args.unlocks:
                lock(cb)
        unlock_default = [timed_unlock(tb, therapist.passphrase)]

        t_id = wait_until(lambda: contact_ids(cb, 'Therapist'), 30, 'the therapist')[0]
        c_id = wait_until(lambda: contact_ids(tb, 'Client'), 30, 'the client')[0]
        open_thread(cb, t_id)
        open_thread(tb, c_id)

        latency = {'client -> therapist': [], 'therapist -> client': []}
        own_thread = []
        for i in range(args.messages):
            sender, receiver, key = ((cb, tb, 'client -> therapist') if i % 2 == 0
                                     else (tb, cb, 'therapist -> client'))
            text = f'bench {i} {secrets.token_hex(4)}'
            t0 = sender.execute_script(SEND_JS, text)
            seen = wait_until(lambda: receiver.execute_script(
                'return (window.__seen || {})[arguments[0]]', text), 60,
                f'message {i} in the other browser', interval=0.005)
            latency[key].append(seen - t0)
            # The sender's page is done with it (its own thread shows it, Send enabled again)
            # before the next Send.
            own = wait_until(lambda: sender.execute_script(
                'const ok = [...document.querySelectorAll("#messages li.message.out .body")]'
                '  .some(b => b.textContent === arguments[0]) &&'
                '  !document.getElementById("send").disabled;'
                'return ok ? Date.now() : 0;', text), 30, 'the sender to settle', interval=0.005)
            own_thread.append(own - t0)
        both = latency['client -> therapist'] + latency['therapist -> client']
    except Failure as e:
        log(f'app_bench: {e}')
        return 1
    finally:
        cleanup.close()

    log('')
    log(f'{"alliance app, headless Chromium, ms":<44} {"n":>5} {"p50":>9} {"p99":>9} {"max":>9}')
    log(row('unlock -> list rendered (interactive cost)', unlock_fast))
    log(row('unlock -> list rendered (default cost, once)', unlock_default))
    log(row('Send -> shown in the other browser', both))
    for k, v in latency.items():
        log(row(f'  {k}', v))
    log(row("Send -> in the sender's own thread (+/- 5 ms)", own_thread))
    log(f'(whole run {time.monotonic() - started:.0f}s; {os.cpu_count()} CPUs)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

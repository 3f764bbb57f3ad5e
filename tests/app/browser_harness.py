"""Shared helpers for the app's browser test and benchmark: a real relay, real `alliance app`
processes and Debian's headless Chromium driven by python3-selenium.

Everything listens on 127.0.0.1 only, on ports found by binding port 0. Every process started
here is registered with a Cleanup and stopped by its pid (never by name), also on failure.

Run with Debian's /usr/bin/python3 (python3-selenium); a pyenv python has no selenium.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
DESKTOP = (1280, 900)
PHONE = (390, 844)


class Failure(Exception):
    """A behaviour the test checks did not hold; the message says which and how."""


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, what, interval=0.1):
    """Polls fn() until it returns something truthy; returns that, or raises Failure(what)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Failure:
            raise
        except Exception as e:  # a stale element, a page mid-render: try again
            last_exc = e
        if time.monotonic() > deadline:
            extra = f' (last error: {type(last_exc).__name__}: {last_exc})' if last_exc else ''
            raise Failure(f'timed out after {timeout}s waiting for {what}{extra}')
        time.sleep(interval)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Build:
    """Paths into the CMake build directory."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.relay = os.path.join(self.dir, 'server', 'alliance-relay')
        self.cli = os.path.join(self.dir, 'client', 'alliance')
        self.fake_key_change = os.path.join(self.dir, 'tests', 'app', 'fake_key_change')
        self.screenshots = os.path.join(self.dir, 'app-screenshots')
        for p in (self.relay, self.cli):
            if not os.access(p, os.X_OK):
                raise SystemExit(f'{p} is missing; build it first: cmake --build {self.dir} '
                                 '--target alliance alliance-relay fake_key_change')


class Cleanup:
    """Stops every process it was given, newest first, by pid; removes temp dirs."""

    def __init__(self):
        self.procs = []
        self.drivers = []
        self.dirs = []

    def proc(self, p):
        self.procs.append(p)
        return p

    def driver(self, d):
        self.drivers.append(d)
        return d

    def tempdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.dirs.append(d)
        return d

    def close(self, keep_dirs=False):
        for d in reversed(self.drivers):
            try:
                d.quit()
            except Exception:
                pass
        self.drivers.clear()
        for p in reversed(self.procs):
            stop_process(p)
        self.procs.clear()
        if not keep_dirs:
            for d in self.dirs:
                shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()


def stop_process(p, sig=signal.SIGTERM, timeout=10):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass


class Relay:
    """alliance-relay: `init` once (keeps the bootstrap invite), then serve/stop/restart on the
    same port and data directory. `limits` ({key: integer}) go to the [limits] table of a config
    file (deploy/relay.toml names them), e.g. {'max_attachment_bytes': 1 << 20}."""

    def __init__(self, build, cleanup, workdir, limits=None):
        self.build = build
        self.cleanup = cleanup
        self.data = os.path.join(workdir, 'relay')
        self.log = os.path.join(workdir, 'relay.log')
        self.port = free_port()
        self.address = f'127.0.0.1:{self.port}'
        self.config = None
        if limits:
            self.config = os.path.join(workdir, 'relay.toml')
            with open(self.config, 'w') as f:
                f.write('[limits]\n')
                for k, v in limits.items():
                    f.write(f'{k} = {int(v)}\n')
        out = subprocess.run([build.relay, 'init', '--data', self.data], check=True,
                             capture_output=True, text=True, timeout=60)
        self.bootstrap_invite = out.stdout.strip().splitlines()[-1].strip()
        self.proc = None

    def start(self):
        cmd = [self.build.relay, 'serve', '--data', self.data, '--listen', self.address,
               '--log-file', self.log]
        if self.config:
            cmd += ['--config', self.config]
        self.proc = self.cleanup.proc(subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=open(self.log + '.err', 'ab')))

        def listening():
            if self.proc.poll() is not None:
                raise Failure(f'the relay exited with {self.proc.returncode}; see {self.log}')
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_until(listening, 30, f'the relay to listen on {self.address}')

    def stop(self):
        stop_process(self.proc)


class Profile:
    """A profile directory and the passphrase file the test keeps for it."""

    def __init__(self, build, workdir, name, passphrase):
        self.build = build
        self.name = name
        self.dir = os.path.join(workdir, name)
        self.passphrase = passphrase
        self.passfile = os.path.join(workdir, f'{name}.pass')
        with open(self.passfile, 'w') as f:
            f.write(passphrase + '\n')
        os.chmod(self.passfile, 0o600)

    def cli(self, *args, relay=None, timeout=120):
        cmd = [self.build.cli, '--profile', self.dir, '--passphrase-file', self.passfile]
        if relay:
            cmd += ['--relay', relay]
        cmd += list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Failure(f'`alliance {" ".join(args)}` failed ({r.returncode}): '
                          f'{r.stderr.strip() or r.stdout.strip()}')
        return r.stdout

    def invite(self, role):
        out = self.cli('--json', 'admin', 'invite', '--role', role)
        return json.loads(out.strip().splitlines()[-1])['code']


class App:
    """One `alliance app` process. Its stdin stays open: a newline asks it for a new launch link."""

    LINK = re.compile(r'(http://127\.0\.0\.1:(\d+)/#launch=\S+)')

    def __init__(self, build, cleanup, profile_dir, log_path, port=None, passfile=None,
                 idle_seconds=None, relay=None):
        self.port = port or free_port()
        cmd = [build.cli, '--profile', profile_dir]
        if passfile:
            cmd += ['--passphrase-file', passfile]
        if relay:
            cmd += ['--relay', relay]
        cmd += ['app', '--port', str(self.port), '--no-browser']
        if idle_seconds:
            cmd += ['--idle-seconds', str(idle_seconds)]
        self.log_path = log_path
        self.proc = cleanup.proc(subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_path, 'ab'),
            text=True, bufsize=1, env=dict(os.environ, ALLIANCE_PASSPHRASE_FILE='')))
        self._links = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.launch_url = self._next_link(30)
        self.origin = f'http://127.0.0.1:{self.port}'

    def _read(self):
        for line in self.proc.stdout:
            m = self.LINK.search(line)
            if m:
                with self._cv:
                    self._links.append(m.group(1))
                    self._cv.notify_all()

    def _next_link(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self._links:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise Failure(f'`alliance app` printed no launch link; see {self.log_path}')
                self._cv.wait(min(left, 0.5))
            return self._links.pop(0)

    def new_link(self):
        """A fresh one-time launch link (the app prints one per line read on stdin)."""
        self.proc.stdin.write('\n')
        self.proc.stdin.flush()
        return self._next_link(10)

    def stop(self):
        stop_process(self.proc)


def fake_key_change(build, workdir, profile, contact_id):
    """Runs tests/app/fake_key_change on a profile (flips the contact's pinned identity key, as
    the library's trust tests do). Returns None; raises Failure when the tool fails."""
    cmd = [build.fake_key_change, profile.dir, profile.passfile, contact_id]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f'fake_key_change failed ({r.returncode}): {r.stderr.strip()}')
    return None


# ---------------------------------------------------------------- the browser

def new_driver(cleanup, width=DESKTOP[0], height=DESKTOP[1]):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
              '--no-first-run', '--no-default-browser-check', '--disable-extensions',
              '--disable-background-networking', '--disable-sync', '--mute-audio',
              '--disable-features=Translate,MediaRouter', '--password-store=basic',
              '--force-device-scale-factor=1', f'--window-size={width},{height}',
              f'--user-data-dir={cleanup.tempdir("alliance-chromium-")}'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    try:  # selenium >= 4.11 names it log_output; Debian 12's 4.8 log_path
        service = Service(CHROMEDRIVER, port=free_port(), log_output=subprocess.DEVNULL)
    except TypeError:
        service = Service(CHROMEDRIVER, port=free_port(), log_path=os.devnull)
    d = cleanup.driver(webdriver.Chrome(service=service, options=opts))
    d.set_script_timeout(60)
    set_viewport(d, width, height)
    return d


def set_viewport(d, width, height):
    d.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
        'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': width < 600})


def by_id(d, id_):
    return d.find_element(By.ID, id_)


def exists(d, css):
    return bool(d.find_elements(By.CSS_SELECTOR, css))


def wait_css(d, css, timeout=20, what=None, visible=True):
    def found():
        els = d.find_elements(By.CSS_SELECTOR, css)
        els = [e for e in els if e.is_displayed()] if visible else els
        return els[0] if els else None
    return wait_until(found, timeout, what or f'"{css}" on {d.current_url}')


def wait_text(d, css, needle, timeout=20, what=None):
    """Waits for an element matching css whose text contains needle; returns it."""
    def found():
        for e in d.find_elements(By.CSS_SELECTOR, css):
            if needle in e.text:
                return e
        return None
    return wait_until(found, timeout, what or f'"{needle}" in "{css}"')


def click(d, css, timeout=20, what=None):
    """Clicks the first visible element matching css; retries while the page re-renders
    (a stale or covered element is not clicked, so a retry cannot click twice)."""
    def once():
        for e in d.find_elements(By.CSS_SELECTOR, css):
            if e.is_displayed() and e.is_enabled():
                e.click()
                return True
        return False
    return wait_until(once, timeout, what or f'a clickable "{css}"')


def fill_in(d, id_, text):
    el = by_id(d, id_)
    el.clear()
    el.send_keys(text)
    return el


def go(d, hash_):
    """Navigates inside the single-page app (no reload)."""
    d.execute_script('location.hash = arguments[0]', hash_)


class Shots:
    """Screenshots of a screen at desktop and phone width under build/app-screenshots/."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.saved = []

    def take(self, d, name, settle=0.3, prepare=None):
        """`prepare(d)`, when given, runs at each width before the shot (e.g. a scroll)."""
        paths = []
        for label, (w, h) in (('desktop', DESKTOP), ('phone', PHONE)):
            set_viewport(d, w, h)
            time.sleep(settle)
            if prepare:
                prepare(d)
                time.sleep(0.1)
            p = os.path.join(self.dir, f'{name}-{label}.png')
            d.save_screenshot(p)
            paths.append(p)
        set_viewport(d, *DESKTOP)
        self.saved += paths
        return paths


class Axe:
    """axe-core in the page. Installed test-only, outside the repository, with
        npm install --no-save --prefix <build>/npm axe-core@4
    (skipped when <build>/npm/node_modules/axe-core/axe.min.js already exists). The app's CSP
    allows only its own scripts, so the source is injected through WebDriver, which the page's
    CSP does not govern."""

    IMPACTS = ('serious', 'critical')

    def __init__(self, build_dir):
        self.path = os.path.join(build_dir, 'npm', 'node_modules', 'axe-core', 'axe.min.js')
        if not os.path.exists(self.path):
            npm = shutil.which('npm')
            if not npm:
                raise SystemExit('npm is needed once to install axe-core (test-only)')
            os.makedirs(os.path.join(build_dir, 'npm'), exist_ok=True)
            subprocess.run([npm, 'install', '--no-save', '--no-audit', '--no-fund', '--prefix',
                            os.path.join(build_dir, 'npm'), 'axe-core@4'], check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
        with open(self.path) as f:
            self.source = f.read()
        self.problems = []  # (screen, width label, rule id, impact, help, targets)

    def run(self, d, screen, widths=(('desktop', DESKTOP), ('phone', PHONE))):
        found = []
        for label, (w, h) in widths:
            set_viewport(d, w, h)
            time.sleep(0.2)
            if not d.execute_script('return !!window.axe'):
                d.execute_script(self.source)
            result = d.execute_async_script(
                'const done = arguments[arguments.length - 1];'
                'axe.run(document, {resultTypes: ["violations"]})'
                '  .then((r) => done(JSON.stringify(r.violations)))'
                '  .catch((e) => done(JSON.stringify({error: String(e)})));')
            violations = json.loads(result)
            if isinstance(violations, dict):
                raise Failure(f'axe-core failed on {screen}: {violations["error"]}')
            for v in violations:
                if v.get('impact') in self.IMPACTS:
                    targets = [' '.join(map(str, n.get('target', []))) for n in v['nodes']][:5]
                    found.append((screen, label, v['id'], v['impact'], v['help'], targets))
        set_viewport(d, *DESKTOP)
        for f in found:
            print(f'  axe [{f[3]}] {f[0]} ({f[1]}): {f[2]} — {f[4]}; {f[5]}', flush=True)
        self.problems += found
        return found


# ---------------------------------------------------------------- page-level helpers

def body_text_and_html(d):
    return d.execute_script('return [document.body.innerText, document.body.innerHTML]')


def create_profile(d, passphrase):
    wait_css(d, '#profile-form', 30, 'the first-run "create profile" form')
    fill_in(d, 'new-passphrase', passphrase)
    fill_in(d, 'new-passphrase2', passphrase)
    click(d, '#create-profile')


def register(d, invite, relay, name):
    wait_css(d, '#register-form', 90, 'the "join your clinic" form after creating the profile')
    fill_in(d, 'invite', invite)
    fill_in(d, 'relay', relay)
    fill_in(d, 'name', name)
    click(d, '#register')
    wait_shell(d, 'the conversation list after registering')


def unlock(d, passphrase):
    wait_css(d, '#unlock-form', 30, 'the unlock form')
    fill_in(d, 'passphrase', passphrase)
    click(d, '#unlock')
    wait_shell(d, 'the conversation list after unlocking')


def wait_shell(d, what, timeout=60):
    """The shell is up and routed: the list is filled and the main area shows something."""
    wait_css(d, '#contacts > li', timeout, what, visible=False)
    wait_css(d, '#main > *', timeout, what, visible=False)


def contact_ids(d, role=None):
    """Ids in the conversation list, optionally only those whose role line says `role`."""
    return d.execute_script(
        'return [...document.querySelectorAll("#contacts a.contact-link")]'
        '  .filter(a => !arguments[0] || (a.querySelector(".contact-role") || {}).textContent === arguments[0])'
        '  .map(a => a.dataset.id)', role)


def message_states(d):
    """{body: state} of the messages in the open thread."""
    return d.execute_script(
        'const r = {}; for (const li of document.querySelectorAll("#messages li.message")) {'
        '  const b = li.querySelector(".body"); if (b) r[b.textContent] = li.dataset.state; }'
        'return r;')


def http(app_or_origin, method, path, headers=None, body=None, host=None, timeout=10):
    """A raw request to an app; returns (status, headers dict (lower-case), body bytes)."""
    import http.client
    origin = app_or_origin.origin if hasattr(app_or_origin, 'origin') else app_or_origin
    port = int(origin.rsplit(':', 1)[1])
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader('Host', host or f'127.0.0.1:{port}')
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            conn.putheader('Content-Type', 'application/json')
            conn.putheader('Content-Length', str(len(data)))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders(data)
        r = conn.getresponse()
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + '\n' + v if k in hdrs else v
        return r.status, hdrs, r.read()
    finally:
        conn.close()


def loopback_only(port):
    """True when every listening socket on `port` is bound to 127.0.0.1 (Linux /proc/net)."""
    seen = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    addr, p = local.rsplit(':', 1)
                    if int(p, 16) == port and state == '0A':  # LISTEN
                        seen.append((table, addr))
        except FileNotFoundError:
            pass
    return seen and all(t == '/proc/net/tcp' and a == '0100007F' for t, a in seen), seen


def log(msg):
    print(msg, flush=True)

"""Helpers shared by the tests in tests/deploy: paths, skipping, and a relay process.

Every test here is a plain script run by /usr/bin/python3 (Debian's python, for python3-yaml and
python3-prometheus-client) with two arguments, SOURCE_DIR and BINARY_DIR. A test that cannot run
on this machine exits with SKIP (77) after saying why; CTest reports it as skipped.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

SKIP = 77
SOURCE_DIR = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
BINARY_DIR = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None


def relay_bin():
    return os.path.join(BINARY_DIR, 'server', 'alliance-relay')


def cli_bin():
    return os.path.join(BINARY_DIR, 'client', 'alliance')


def skip(why):
    print(f'SKIPPED: {why}')
    sys.exit(SKIP)


def require_root(what):
    if os.geteuid() != 0:
        skip(f'{what} needs root (it creates users and owns files by uid); run the tests as root')


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for addresses that must be known
    before the server starts, such as a container's health check)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(argv, check=True, **kwargs):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=kwargs.pop('timeout', 120),
                       **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f'{argv} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}')
    return r


class RelayProcess:
    """`alliance-relay serve` (or the container entrypoint) on 127.0.0.1, stopped by SIGTERM."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        line = self.proc.stdout.readline()
        m = re.search(r'listening on port (\d+), metrics on port (\d+)', line)
        if not m:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f'{argv} did not start: {line}{out}\nstderr: {err}')
        self.port, self.metrics_port = int(m.group(1)), int(m.group(2))

    def stop(self):
        """SIGTERM; returns the exit code and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def main():
    """unittest.main with this module's argv convention."""
    if SOURCE_DIR is None or BINARY_DIR is None:
        print(f'usage: {sys.argv[0]} SOURCE_DIR BINARY_DIR')
        sys.exit(2)
    unittest.main(argv=[sys.argv[0]], verbosity=2)


def wait_for(predicate, timeout=20.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()

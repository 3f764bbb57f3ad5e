#!/usr/bin/env python3
"""The real relay's /metrics, parsed by the Prometheus client library's own text parser, holds
every metric deploy/README.md tells an operator to alert on, with values that follow real
traffic (a clinic of three made through the `alliance` CLI, one message sent), a backup, and a
restart.

    metrics_test.py SOURCE_DIR BINARY_DIR
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import deploy_common as dc

# name -> type, as the operator guide lists them.
ALERTED = {
    'alliance_mailbox_envelopes_estimate': 'gauge',      # stored envelopes
    'alliance_oldest_undelivered_age_seconds': 'gauge',
    'alliance_receive_streams': 'gauge',                 # connected streams
    'alliance_rpc_latency_seconds': 'histogram',         # method="Send": send latency
    'alliance_data_bytes': 'gauge',                      # disk bytes
    'alliance_data_filesystem_available_bytes': 'gauge',
    'alliance_login_failures_total': 'counter',          # failed logins
    'alliance_auth_failures_total': 'counter',
    'alliance_backup_age_seconds': 'gauge',
    'alliance_sends_total': 'counter',
    'alliance_send_rejected_total': 'counter',
}


def scrape(port):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=10) as r:
        text = r.read().decode('utf-8')
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in families.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.scratch = tempfile.TemporaryDirectory(prefix='alliance-metrics-')
        self.dir = self.scratch.name
        self.data = os.path.join(self.dir, 'relay')
        out = dc.run([dc.relay_bin(), 'init', '--data', self.data]).stdout
        self.invite = out.strip().splitlines()[-1]
        self.relay = self.start()

    def tearDown(self):
        if self.relay is not None:
            self.relay.stop()
        self.scratch.cleanup()

    def start(self):
        return dc.RelayProcess([dc.relay_bin(), 'serve', '--data', self.data, '--listen',
                                '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-file',
                                os.path.join(self.dir, 'relay.log')])

    def cli(self, who, *args):
        profile = os.path.join(self.dir, who)
        passfile = profile + '.pass'
        if not os.path.exists(passfile):
            with open(passfile, 'w') as f:
                f.write(f'passphrase of {who} for the metrics test\n')
            os.chmod(passfile, 0o600)
        return dc.run([dc.cli_bin(), '--profile', profile, '--passphrase-file', passfile, *args])

    def join(self, who, invite, name):
        self.cli(who, 'init', '--passphrase-cost', 'interactive')
        self.cli(who, '--relay', f'127.0.0.1:{self.relay.port}', 'register', invite, '--name', name)

    def invite_code(self, who, role):
        out = self.cli(who, '--json', 'admin', 'invite', '--role', role).stdout
        return json.loads(out)['code']

    def test_alerted_metrics_exist_and_follow_traffic(self):
        families, samples = scrape(self.relay.metrics_port)
        for name, kind in ALERTED.items():
            # The parser names a counter's family without its _total suffix.
            family = name.removesuffix('_total') if kind == 'counter' else name
            self.assertTrue(family in families, f'{name} missing from /metrics')
            self.assertEqual(families[family].type, kind, name)
        self.assertEqual(value(samples, 'alliance_backup_age_seconds'), -1, 'never backed up')
        self.assertEqual(value(samples, 'alliance_oldest_undelivered_age_seconds'), 0)
        self.assertEqual(value(samples, 'alliance_receive_streams'), 0)
        self.assertGreater(value(samples, 'alliance_data_bytes'), 0)
        self.assertGreater(value(samples, 'alliance_data_filesystem_available_bytes'), 0)
        self.assertEqual(value(samples, 'alliance_rpc_latency_seconds_count', method='Send'), 0)

        # A clinic: admin, therapist, client; the client writes, the therapist has not read yet.
        self.join('admin', self.invite, 'Clinic Admin')
        self.join('therapist', self.invite_code('admin', 'therapist'), 'Dr. Rivera')
        self.join('client', self.invite_code('therapist', 'client'), 'Sam')
        self.cli('client', 'send', 'therapist', 'Could we talk about work on Tuesday?')
        time.sleep(1.2)  # the waiting envelope ages
        _, samples = scrape(self.relay.metrics_port)
        self.assertGreaterEqual(value(samples, 'alliance_sends_total'), 1)
        self.assertGreaterEqual(value(samples, 'alliance_mailbox_envelopes_estimate'), 1)
        waited = value(samples, 'alliance_oldest_undelivered_age_seconds')
        self.assertGreaterEqual(waited, 1)
        self.assertGreaterEqual(
            value(samples, 'alliance_rpc_latency_seconds_count', method='Send'), 1)
        self.assertGreaterEqual(
            value(samples, 'alliance_rpc_latency_seconds_bucket', method='Send', le='+Inf'), 1)

        # The therapist fetches and acknowledges it: what waits now (if anything: the therapist's
        # client may answer automatically, e.g. to complete the session) is younger.
        self.cli('therapist', 'sync')
        _, samples = scrape(self.relay.metrics_port)
        self.assertLess(value(samples, 'alliance_oldest_undelivered_age_seconds'), waited)

        # A connected client shows as one open stream.
        profile = os.path.join(self.dir, 'client')
        watch = subprocess.Popen([dc.cli_bin(), '--profile', profile, '--passphrase-file',
                                  profile + '.pass', 'watch'], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            streams = dc.wait_for(lambda: value(scrape(self.relay.metrics_port)[1],
                                                'alliance_receive_streams') == 1)
            self.assertTrue(streams, 'the watching client never showed in alliance_receive_streams')
        finally:
            watch.send_signal(signal.SIGTERM)
            watch.wait(timeout=30)

        # A backup sets the backup age, and a restarted relay remembers it.
        dc.run([dc.relay_bin(), 'backup', '--data', self.data, '--to',
                os.path.join(self.dir, 'backup-1')])
        _, samples = scrape(self.relay.metrics_port)
        age = value(samples, 'alliance_backup_age_seconds')
        self.assertGreaterEqual(age, 0)
        self.assertLess(age, 60)
        code, err = self.relay.stop()
        self.assertEqual(code, 0, err)
        self.relay = self.start()
        _, samples = scrape(self.relay.metrics_port)
        self.assertGreaterEqual(value(samples, 'alliance_backup_age_seconds'), age)
        self.assertLess(value(samples, 'alliance_backup_age_seconds'), 120)


if __name__ == '__main__':
    dc.main()

#!/usr/bin/env python3
"""deploy/container-entrypoint.sh outside a container, with the real relay on 127.0.0.1: first
start initializes the data directory (invite to a 0600 file, never the log), TLS from the
mounted files, `health` answers SERVING through the gRPC health service, the relay is exec'd
(SIGTERM reaches it: exit 0), a restart never re-initializes, and a directory holding anything
but lost+found is never initialized over. container_image_test runs the same script in the
image.

    container_entrypoint_test.py SOURCE_DIR BINARY_DIR
"""
import os
import re
import stat
import tempfile
import unittest

import deploy_common as dc


class ContainerEntrypointTest(unittest.TestCase):
    def setUp(self):
        self.scratch = tempfile.TemporaryDirectory(prefix='alliance-entrypoint-')
        self.dir = self.scratch.name
        self.script = os.path.join(dc.SOURCE_DIR, 'deploy', 'container-entrypoint.sh')
        self.tls = os.path.join(self.dir, 'tls')
        dc.run([dc.relay_bin(), 'tls', 'init', '--host', 'localhost', '--out', self.tls])
        self.data = os.path.join(self.dir, 'volume')
        os.makedirs(self.data)
        self.port = dc.free_port()
        self.env = dict(os.environ,
                        PATH=os.path.dirname(dc.relay_bin()) + os.pathsep + os.environ['PATH'],
                        ALLIANCE_DATA=self.data,
                        ALLIANCE_LISTEN=f'127.0.0.1:{self.port}',
                        ALLIANCE_METRICS_LISTEN='127.0.0.1:0',
                        ALLIANCE_TLS_CERT=os.path.join(self.tls, 'cert.pem'),
                        ALLIANCE_TLS_KEY=os.path.join(self.tls, 'key.pem'),
                        ALLIANCE_TLS_CA=os.path.join(self.tls, 'ca.pem'),
                        ALLIANCE_CONFIG=os.path.join(self.dir, 'no-such-relay.toml'))

    def tearDown(self):
        self.scratch.cleanup()

    def entrypoint(self, *args, check=True):
        return dc.run([self.script, *args], check=check, env=self.env)

    def test_first_start_health_restart(self):
        os.makedirs(os.path.join(self.data, 'lost+found'))  # a fresh ext4 volume
        relay = dc.RelayProcess([self.script], env=self.env)
        try:
            self.assertEqual(relay.port, self.port)
            invite_file = os.path.join(self.data, 'bootstrap-invite')
            self.assertEqual(stat.S_IMODE(os.stat(invite_file).st_mode), 0o600)
            with open(invite_file) as f:
                invite = f.read().strip()
            self.assertRegex(invite, r'^[0-9a-f]{32}$')
            health = self.entrypoint('health')
            self.assertEqual(health.stdout.strip(), 'SERVING')
            # Other arguments go to alliance-relay itself.
            self.assertIn('alliance-relay', self.entrypoint('--version').stdout)
        finally:
            code, err = relay.stop()
        self.assertEqual(code, 0, err)  # exec'd: SIGTERM reached the relay, which drained
        self.assertIn('initialized a new relay database', err)
        self.assertNotIn(invite, err, 'the invite must never reach the log')
        self.assertNotEqual(self.entrypoint('health', check=False).returncode, 0)

        # Restart on the same volume: the same database, not a new one.
        relay_id = re.search(r'relay id ([0-9a-f]+)',
                             dc.run([dc.relay_bin(), 'check', '--data', self.data]).stdout)[1]
        relay = dc.RelayProcess([self.script, 'serve'], env=self.env)
        code, err = relay.stop()
        self.assertEqual(code, 0, err)
        self.assertNotIn('initialized', err)
        with open(invite_file) as f:
            self.assertEqual(f.read().strip(), invite)
        self.assertIn(relay_id, dc.run([dc.relay_bin(), 'check', '--data', self.data]).stdout)

    def test_never_initializes_over_unknown_contents(self):
        with open(os.path.join(self.data, 'notes.txt'), 'w') as f:
            f.write('not a relay database\n')
        r = self.entrypoint(check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.data, 'bootstrap-invite')))
        self.assertFalse(os.path.exists(os.path.join(self.data, 'CURRENT')))

    def test_refuses_plaintext_on_all_interfaces_without_tls(self):
        env = dict(self.env, ALLIANCE_LISTEN='0.0.0.0:0',
                   ALLIANCE_TLS_CERT=os.path.join(self.dir, 'absent.pem'))
        r = dc.run([self.script], check=False, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('refusing to serve plaintext', r.stderr)


class ContainerFilesTest(unittest.TestCase):
    """What the image and compose file promise, read statically (container_image_test builds
    and runs the image where podman is available)."""

    def read(self, name):
        with open(os.path.join(dc.SOURCE_DIR, 'deploy', name)) as f:
            return f.read()

    def test_containerfile(self):
        text = self.read('Containerfile')
        bases = re.findall(r'^ARG BASE_IMAGE=(\S+)', text, re.M)
        self.assertEqual(bases, ['docker.io/library/debian:12-slim'])
        self.assertRegex(text, r'(?m)^USER 10001:10001$')
        self.assertRegex(text, r'(?m)^VOLUME \["/var/lib/alliance-relay"\]$')
        self.assertRegex(text, r'(?m)^HEALTHCHECK .*\n\s+CMD \["/usr/local/bin/container-entrypoint.sh", '
                               r'"health"\]$')
        self.assertRegex(text, r'(?m)^ENTRYPOINT \["/usr/local/bin/container-entrypoint.sh"\]$')
        # Debian packages only: nothing fetched with curl, wget, pip or npm.
        self.assertNotRegex(text, r'\b(curl|wget|pip3?|npm)\b')

    def test_compose(self):
        import yaml
        relay = yaml.safe_load(self.read('compose.yaml'))['services']['relay']
        self.assertEqual(relay['build']['dockerfile'], 'deploy/Containerfile')
        self.assertIn('data:/var/lib/alliance-relay', relay['volumes'])
        self.assertEqual(relay['healthcheck']['test'],
                         ['CMD', '/usr/local/bin/container-entrypoint.sh', 'health'])
        self.assertIn('127.0.0.1:9464:9464', relay['ports'], '/metrics stays on the host')
        self.assertTrue(relay['read_only'])


if __name__ == '__main__':
    dc.main()

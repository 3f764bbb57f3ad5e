#!/usr/bin/env python3
"""`systemd-analyze verify` on deploy/alliance-relay.service as install.sh installs it.

verify insists that every Exec*= program exists, so the unit is installed into a scratch --root
and a copy of it, with /usr/local/bin rewritten to that root's bin directory, is verified. Any
warning about the unit fails the test, as does a disagreement between the unit, relay.toml and
install.sh about the user and the data directory.

    systemd_unit_test.py SOURCE_DIR BINARY_DIR
"""
import os
import re
import shutil
import tempfile
import unittest

import deploy_common as dc


class SystemdUnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory(prefix='alliance-unit-')
        cls.root = os.path.join(cls.scratch.name, 'root')
        dc.run([os.path.join(dc.SOURCE_DIR, 'deploy', 'install.sh'), '--root', cls.root,
                '--build', dc.BINARY_DIR])
        with open(os.path.join(cls.root, 'etc/systemd/system/alliance-relay.service')) as f:
            cls.unit = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def verify(self, text):
        """Writes `text` as alliance-relay.service in its own directory and verifies it."""
        d = tempfile.mkdtemp(dir=self.scratch.name)
        path = os.path.join(d, 'alliance-relay.service')
        with open(path, 'w') as f:
            f.write(text)
        return dc.run(['systemd-analyze', 'verify', path], check=False, cwd=d)

    def test_verify_passes_without_warnings(self):
        text = self.unit.replace('/usr/local/bin/', os.path.join(self.root, 'usr/local/bin/'))
        r = self.verify(text)
        output = (r.stdout + r.stderr).strip()
        print(output or 'systemd-analyze verify: no findings')
        self.assertEqual(r.returncode, 0, output)
        self.assertNotIn('alliance-relay.service', output)

    def test_verify_catches_a_missing_program(self):
        # Shows the check bites: the unit as shipped, on a machine without the binary.
        r = self.verify(self.unit.replace('/usr/local/bin/', '/nonexistent/alliance/bin/'))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('is not executable', r.stdout + r.stderr)

    def test_unit_agrees_with_config_and_install(self):
        self.assertIn('User=alliance-relay\n', self.unit)
        self.assertIn('Group=alliance-relay\n', self.unit)
        self.assertIn('ReadWritePaths=/var/lib/alliance-relay\n', self.unit)
        self.assertIn('StateDirectory=alliance-relay\n', self.unit)
        for hardening in ('NoNewPrivileges=true', 'ProtectSystem=strict', 'PrivateTmp=true'):
            self.assertIn(hardening + '\n', self.unit)
        with open(os.path.join(dc.SOURCE_DIR, 'deploy', 'relay.toml')) as f:
            data = re.search(r'^data = "([^"]*)"', f.read(), re.M).group(1)
        self.assertEqual(data, '/var/lib/alliance-relay')
        self.assertIn(f'check --data {data}', self.unit)


if __name__ == '__main__':
    if shutil.which('systemd-analyze') is None:
        dc.skip('systemd-analyze is not installed (Debian package systemd)')
    dc.require_root('installing the unit with install.sh')
    dc.main()

#!/usr/bin/env python3
"""deploy/install.sh into a scratch --root: twice (idempotent, an edited configuration is kept),
then --uninstall (binaries, guide and unit gone; data, configuration, TLS directory and user
kept). The machine itself is never touched: the test checks that too.

    install_test.py SOURCE_DIR BINARY_DIR
"""
import filecmp
import os
import stat
import tempfile
import unittest

import deploy_common as dc

HOST_PATHS = ['/etc/systemd/system/alliance-relay.service', '/etc/alliance/relay.toml',
              '/var/lib/alliance-relay', '/usr/local/bin/alliance-relay']


def host_state():
    with open('/etc/passwd') as f:
        users = [line.split(':')[0] for line in f]
    return ([p for p in HOST_PATHS if os.path.lexists(p)], 'alliance-relay' in users)


def passwd_entries(root, user='alliance-relay'):
    with open(os.path.join(root, 'etc', 'passwd')) as f:
        return [line.strip().split(':') for line in f if line.startswith(user + ':')]


def make_root(root):
    """A target tree with its own minimal user database, as an image being assembled has."""
    etc = os.path.join(root, 'etc')
    os.makedirs(etc)
    for name, line in (('passwd', 'root:x:0:0:root:/root:/bin/bash'), ('group', 'root:x:0:'),
                       ('shadow', 'root:*:19000:0:99999:7:::'), ('gshadow', 'root:*::')):
        with open(os.path.join(etc, name), 'w') as f:
            f.write(line + '\n')


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.scratch = tempfile.TemporaryDirectory(prefix='alliance-install-')
        self.root = os.path.join(self.scratch.name, 'root')
        self.script = os.path.join(dc.SOURCE_DIR, 'deploy', 'install.sh')
        self.host_before = host_state()

    def tearDown(self):
        self.scratch.cleanup()
        self.assertEqual(host_state(), self.host_before, 'install.sh --root touched the machine')

    def install(self, *extra):
        return dc.run([self.script, '--root', self.root, '--build', dc.BINARY_DIR, *extra])

    def path(self, p):
        return os.path.join(self.root, p.lstrip('/'))

    def test_install_twice_then_uninstall(self):
        make_root(self.root)
        first = self.install()
        self.assertIn('systemd is not running here (or --root was given)', first.stdout)
        for name, built in (('alliance-relay', dc.relay_bin()), ('alliance', dc.cli_bin())):
            installed = self.path('/usr/local/bin/' + name)
            self.assertTrue(filecmp.cmp(installed, built, shallow=False), name)
            self.assertEqual(stat.S_IMODE(os.stat(installed).st_mode), 0o755)
        entries = passwd_entries(self.root)
        self.assertEqual(len(entries), 1)
        uid, gid, home, shell = int(entries[0][2]), int(entries[0][3]), entries[0][5], entries[0][6]
        self.assertLess(uid, 1000, 'a system user')
        self.assertEqual((home, shell), ('/var/lib/alliance-relay', '/usr/sbin/nologin'))
        for d in ('/var/lib/alliance-relay', '/etc/alliance/tls'):
            st = os.stat(self.path(d))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o700, uid, gid), d)
        config = self.path('/etc/alliance/relay.toml')
        self.assertTrue(filecmp.cmp(config, os.path.join(dc.SOURCE_DIR, 'deploy', 'relay.toml'),
                                    shallow=False))
        unit = self.path('/etc/systemd/system/alliance-relay.service')
        with open(unit) as f:
            text = f.read()
        self.assertIn('ExecStart=/usr/local/bin/alliance-relay serve --config '
                      '/etc/alliance/relay.toml', text)
        self.assertIn('User=alliance-relay', text)
        self.assertTrue(os.path.isfile(self.path('/usr/local/share/doc/alliance/README.md')))

        # The operator edits the configuration and puts data in place; a second run keeps both.
        with open(config, 'a') as f:
            f.write('\n# edited by the operator\nlog_level = "debug"\n')
        with open(config) as f:
            edited = f.read()
        data_file = self.path('/var/lib/alliance-relay/CURRENT')
        with open(data_file, 'w') as f:
            f.write('MANIFEST-000001\n')
        second = self.install()
        self.assertIn('kept existing', second.stdout)
        self.assertNotIn('created system user', second.stdout)
        with open(config) as f:
            self.assertEqual(f.read(), edited)
        self.assertEqual(len(passwd_entries(self.root)), 1)
        self.assertTrue(os.path.exists(data_file))

        gone = dc.run([self.script, '--root', self.root, '--uninstall'])
        self.assertIn('kept', gone.stdout)
        for p in ('/usr/local/bin/alliance-relay', '/usr/local/bin/alliance',
                  '/etc/systemd/system/alliance-relay.service',
                  '/usr/local/share/doc/alliance/README.md'):
            self.assertFalse(os.path.lexists(self.path(p)), p)
        with open(config) as f:
            self.assertEqual(f.read(), edited)
        self.assertTrue(os.path.exists(data_file))
        self.assertTrue(os.path.isdir(self.path('/etc/alliance/tls')))
        self.assertEqual(len(passwd_entries(self.root)), 1)
        # Uninstalling again is harmless.
        dc.run([self.script, '--root', self.root, '--uninstall'])

    def test_prefix_rewrites_the_unit(self):
        make_root(self.root)
        self.install('--prefix', '/opt/alliance')
        self.assertTrue(os.access(self.path('/opt/alliance/bin/alliance-relay'), os.X_OK))
        with open(self.path('/etc/systemd/system/alliance-relay.service')) as f:
            text = f.read()
        self.assertIn('ExecStart=/opt/alliance/bin/alliance-relay serve', text)
        self.assertIn('ExecStartPre=/opt/alliance/bin/alliance-relay check', text)
        self.assertNotIn('/usr/local/', text)

    def test_root_without_user_database(self):
        out = self.install()
        self.assertIn('has no etc/passwd', out.stdout)
        st = os.stat(self.path('/var/lib/alliance-relay'))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, 0))

    def test_refuses_unknown_argument(self):
        r = dc.run([self.script, '--bogus'], check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown argument', r.stderr)


if __name__ == '__main__':
    dc.require_root('install.sh')
    dc.main()

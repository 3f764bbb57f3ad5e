#!/usr/bin/env python3
"""deploy/Containerfile, built and run with podman, no registry involved: a Debian 12 base made
by debootstrap from the Debian archive (cached as the local image alliance-test/debian:12), the
image built with BINARIES=prebuilt from this build, then run on a named volume with TLS files
mounted, host network, relay on 127.0.0.1. Checks: non-root user, the HEALTHCHECK
(`podman healthcheck run`, i.e. `alliance-relay status` through gRPC health) passes, the invite
is on the volume, and `podman stop` ends the relay cleanly (exit 0).

Skipped, saying why, when podman or debootstrap is missing or the user is not root. Cold (no
cached base) it takes about two minutes: one minute of debootstrap, one of image build.

    container_image_test.py SOURCE_DIR BINARY_DIR
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import deploy_common as dc

BASE = 'localhost/alliance-test/debian:12'
IMAGE = 'localhost/alliance-test/relay:test'
NAME = 'alliance-relay-image-test'
VOLUME = 'alliance-relay-image-test-data'


def podman_global():
    # runc when installed: crun refuses hosts with hybrid cgroups (v1 + a v2 mount), as on
    # some CI machines; runc handles both.
    return ['podman'] + (['--runtime', 'runc'] if shutil.which('runc') else [])


# The default rlimits podman asks for may exceed what this host allows a container to set.
LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096']


def podman(*args, check=True, timeout=600):
    return dc.run(podman_global() + list(args), check=check, timeout=timeout)


def ensure_base_image(scratch):
    if podman('image', 'exists', BASE, check=False).returncode == 0:
        return
    rootfs = os.path.join(scratch, 'rootfs')
    dc.run(['debootstrap', '--variant=minbase', 'bookworm', rootfs,
            'http://deb.debian.org/debian'], timeout=900)
    tar = subprocess.Popen(['tar', '-C', rootfs, '-c', '.'], stdout=subprocess.PIPE)
    dc.run(podman_global() + ['import', '-', BASE], stdin=tar.stdout, timeout=300)
    tar.wait()
    shutil.rmtree(rootfs)


def image_ids():
    return set(podman('images', '--all', '--quiet', '--no-trunc').stdout.split())


def cleanup(built=()):
    podman('rm', '--force', '--ignore', NAME, check=False)
    podman('volume', 'rm', '--force', VOLUME, check=False)
    podman('rmi', '--force', '--ignore', IMAGE, *built, check=False)


class ContainerImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory(prefix='alliance-image-')
        cleanup()
        ensure_base_image(cls.scratch.name)
        # A small build context: what the Containerfile copies with BINARIES=prebuilt.
        ctx = os.path.join(cls.scratch.name, 'context')
        for rel, src in (('build/server/alliance-relay', dc.relay_bin()),
                         ('build/client/alliance', dc.cli_bin()),
                         ('deploy/Containerfile', None), ('deploy/container-entrypoint.sh', None)):
            os.makedirs(os.path.dirname(os.path.join(ctx, rel)), exist_ok=True)
            shutil.copy2(src or os.path.join(dc.SOURCE_DIR, rel), os.path.join(ctx, rel))
        before = image_ids()
        podman('build', '--format', 'docker', *LIMITS,
               '--build-arg', f'BASE_IMAGE={BASE}', '--build-arg', 'BINARIES=prebuilt',
               '-f', os.path.join(ctx, 'deploy/Containerfile'), '-t', IMAGE, ctx)
        cls.built = sorted(image_ids() - before)  # the stages' images too, removed at the end

    @classmethod
    def tearDownClass(cls):
        cleanup(getattr(cls, 'built', ()))
        cls.scratch.cleanup()

    def test_runs_as_non_root_with_a_passing_healthcheck(self):
        tls = os.path.join(self.scratch.name, 'tls')
        dc.run([dc.relay_bin(), 'tls', 'init', '--host', 'localhost', '--out', tls])
        config = podman('image', 'inspect', IMAGE, '--format',
                        '{{.Config.User}}|{{json .Config.Volumes}}|{{json .Config.Healthcheck}}')
        user, volumes, healthcheck = config.stdout.strip().split('|')
        self.assertEqual(user, '10001:10001')
        self.assertIn('/var/lib/alliance-relay', volumes)
        self.assertIn('container-entrypoint.sh', healthcheck)
        for name in os.listdir(tls):
            os.chown(os.path.join(tls, name), 10001, 10001)  # the image's user reads its key
        podman('volume', 'create', VOLUME)
        port = dc.free_port()
        podman('run', '--detach', '--name', NAME, *LIMITS, '--network', 'host',
               '--volume', f'{VOLUME}:/var/lib/alliance-relay',
               '--volume', f'{tls}:/etc/alliance/tls:ro',
               '--env', f'ALLIANCE_LISTEN=127.0.0.1:{port}',
               '--env', 'ALLIANCE_METRICS_LISTEN=127.0.0.1:0',
               '--env', 'ALLIANCE_TLS_CERT=/etc/alliance/tls/cert.pem',
               '--env', 'ALLIANCE_TLS_KEY=/etc/alliance/tls/key.pem',
               '--env', 'ALLIANCE_TLS_CA=/etc/alliance/tls/ca.pem', IMAGE)
        healthy = dc.wait_for(
            lambda: podman('healthcheck', 'run', NAME, check=False).returncode == 0, timeout=30)
        logs = podman('logs', NAME).stderr
        self.assertTrue(healthy, logs)
        self.assertIn('uid=10001(alliance-relay)', podman('exec', NAME, 'id').stdout)
        invite = podman('exec', NAME, 'cat', '/var/lib/alliance-relay/bootstrap-invite').stdout
        self.assertRegex(invite.strip(), r'^[0-9a-f]{32}$')
        self.assertNotIn(invite.strip(), logs)
        podman('stop', '--time', '20', NAME)
        state = podman('inspect', NAME, '--format', '{{.State.ExitCode}}').stdout.strip()
        self.assertEqual(state, '0', podman('logs', NAME).stderr)
        self.assertIn('relay_stopped', podman('logs', NAME).stderr)


if __name__ == '__main__':
    for tool in ('podman', 'debootstrap'):
        if shutil.which(tool) is None:
            dc.skip(f'{tool} is not installed (deploy/install-deps.sh installs it)')
    dc.require_root('building and running the image with podman')
    dc.main()

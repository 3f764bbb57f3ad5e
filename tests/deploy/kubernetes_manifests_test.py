#!/usr/bin/env python3
"""Every manifest in deploy/kubernetes parses as YAML (python3-yaml), and the fields an operator
relies on are there: the kinds, one replica, a volume claim, gRPC probes on the gRPC port, a
non-root pod, resource limits, a NetworkPolicy keeping /metrics in, the TLS Secret mounted, a
backup CronJob sharing the relay's volumes, and kustomization.yaml listing every file.

    kubernetes_manifests_test.py SOURCE_DIR BINARY_DIR
"""
import glob
import os
import re
import unittest

import yaml

import deploy_common as dc


def load_all():
    docs = {}
    for path in sorted(glob.glob(os.path.join(dc.SOURCE_DIR, 'deploy', 'kubernetes', '*.yaml'))):
        with open(path) as f:
            docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


class KubernetesManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = load_all()
        cls.objects = [d for name, ds in cls.files.items() if name != 'kustomization.yaml'
                       for d in ds]

    def one(self, kind, name=None):
        found = [o for o in self.objects if o['kind'] == kind
                 and (name is None or o['metadata']['name'] == name)]
        self.assertEqual(len(found), 1, f'{kind} {name or ""}')
        return found[0]

    def test_every_object_is_well_formed(self):
        self.assertGreaterEqual(len(self.files), 6)
        for o in self.objects:
            self.assertIn('apiVersion', o)
            self.assertIn('kind', o)
            self.assertRegex(o['metadata']['name'], r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
            self.assertEqual(o['metadata']['labels']['app.kubernetes.io/name'], 'alliance-relay')
        kinds = {o['kind'] for o in self.objects}
        self.assertLessEqual({'StatefulSet', 'Service', 'NetworkPolicy', 'Secret', 'CronJob',
                              'PersistentVolumeClaim'}, kinds)

    def test_kustomization_lists_every_manifest(self):
        (k,) = self.files['kustomization.yaml']
        self.assertEqual(sorted(k['resources']), sorted(n for n in self.files
                                                        if n != 'kustomization.yaml'))

    def test_statefulset(self):
        sts = self.one('StatefulSet', 'alliance-relay')
        spec = sts['spec']
        self.assertEqual(spec['replicas'], 1)
        pod = spec['template']['spec']
        self.assertEqual(spec['selector']['matchLabels'],
                         {k: v for k, v in spec['template']['metadata']['labels'].items()
                          if k in spec['selector']['matchLabels']})
        self.assertTrue(pod['securityContext']['runAsNonRoot'])
        self.assertNotEqual(pod['securityContext']['runAsUser'], 0)
        self.assertEqual(pod['securityContext']['runAsUser'], 10001, 'the image user')
        (c,) = pod['containers']
        ports = {p['name']: p['containerPort'] for p in c['ports']}
        self.assertEqual(ports, {'grpc': 7443, 'metrics': 9464})
        env = {e['name']: e['value'] for e in c['env']}
        self.assertTrue(env['ALLIANCE_LISTEN'].endswith(f':{ports["grpc"]}'))
        self.assertTrue(env['ALLIANCE_METRICS_LISTEN'].endswith(f':{ports["metrics"]}'))
        for probe in ('livenessProbe', 'readinessProbe'):
            self.assertIn('grpc', c[probe], probe)
            self.assertEqual(c[probe]['grpc']['port'], ports['grpc'], probe)
        for kind in ('requests', 'limits'):
            self.assertEqual(set(c['resources'][kind]), {'cpu', 'memory'}, kind)
        self.assertFalse(c['securityContext']['allowPrivilegeEscalation'])
        self.assertEqual(c['securityContext']['capabilities']['drop'], ['ALL'])
        mounts = {m['name']: m['mountPath'] for m in c['volumeMounts']}
        self.assertEqual(mounts['data'], '/var/lib/alliance-relay')
        (claim,) = spec['volumeClaimTemplates']
        self.assertEqual(claim['metadata']['name'], 'data')
        self.assertEqual(claim['spec']['accessModes'], ['ReadWriteOnce'])
        self.assertIn('storage', claim['spec']['resources']['requests'])
        volumes = {v['name']: v for v in pod['volumes']}
        self.assertEqual(volumes['tls']['secret']['secretName'],
                         self.one('Secret')['metadata']['name'])
        self.assertTrue(env['ALLIANCE_TLS_CERT'].startswith(mounts['tls'] + '/'))
        self.assertEqual(self.one('Service', spec['serviceName'])['spec']['clusterIP'], 'None')

    def test_tls_secret_has_what_the_pod_reads(self):
        secret = self.one('Secret')
        self.assertEqual(secret['type'], 'kubernetes.io/tls')
        self.assertEqual(set(secret['stringData']), {'tls.crt', 'tls.key', 'ca.crt'})

    def test_services_select_the_relay_and_keep_metrics_internal(self):
        pod_labels = self.one('StatefulSet')['spec']['template']['metadata']['labels']
        for svc in (o for o in self.objects if o['kind'] == 'Service'):
            self.assertLessEqual(svc['spec']['selector'].items(), pod_labels.items())
        public = self.one('Service', 'alliance-relay')
        self.assertEqual([p['port'] for p in public['spec']['ports']], [7443])

    def test_network_policy(self):
        np = self.one('NetworkPolicy', 'alliance-relay')
        pod_labels = self.one('StatefulSet')['spec']['template']['metadata']['labels']
        self.assertLessEqual(np['spec']['podSelector']['matchLabels'].items(), pod_labels.items())
        self.assertEqual(set(np['spec']['policyTypes']), {'Ingress', 'Egress'})
        self.assertEqual(np['spec']['egress'], [])
        open_to_all = [r for r in np['spec']['ingress'] if 'from' not in r]
        self.assertEqual([p['port'] for r in open_to_all for p in r['ports']], [7443])
        metrics = [r for r in np['spec']['ingress'] if any(p['port'] == 9464 for p in r['ports'])]
        self.assertEqual(len(metrics), 1)
        self.assertIn('from', metrics[0], '/metrics must not be open to everyone')

    def test_backup_cronjob(self):
        cj = self.one('CronJob', 'alliance-relay-backup')
        self.assertEqual(cj['spec']['concurrencyPolicy'], 'Forbid')
        self.assertEqual(len(cj['spec']['schedule'].split()), 5)
        pod = cj['spec']['jobTemplate']['spec']['template']['spec']
        sts_pod = self.one('StatefulSet')['spec']['template']['spec']
        self.assertTrue(pod['securityContext']['runAsNonRoot'])
        # admin.sock accepts only the relay's own uid.
        self.assertEqual(pod['securityContext']['runAsUser'], sts_pod['securityContext']['runAsUser'])
        (c,) = pod['containers']
        self.assertIn('limits', c['resources'])
        script = ' '.join(c['args'])
        self.assertRegex(script, r'alliance-relay backup --data /var/lib/alliance-relay --to ')
        volumes = {v['name']: v['persistentVolumeClaim']['claimName'] for v in pod['volumes']}
        self.assertEqual(volumes['data'], 'data-alliance-relay-0', 'the StatefulSet claim of pod 0')
        backups_claim = self.one('PersistentVolumeClaim', volumes['backups'])
        self.assertEqual(backups_claim['spec']['accessModes'], ['ReadWriteOnce'])
        # The relay writes the checkpoint itself: it mounts the backup claim at the same path.
        sts_mounts = {m['name']: m['mountPath'] for m in sts_pod['containers'][0]['volumeMounts']}
        job_mounts = {m['name']: m['mountPath'] for m in c['volumeMounts']}
        self.assertEqual(job_mounts['backups'], sts_mounts['backups'])
        self.assertEqual(job_mounts['data'], sts_mounts['data'])
        sts_volumes = {v['name']: v for v in sts_pod['volumes']}
        self.assertEqual(sts_volumes['backups']['persistentVolumeClaim']['claimName'],
                         volumes['backups'])
        (term,) = pod['affinity']['podAffinity']['requiredDuringSchedulingIgnoredDuringExecution']
        self.assertEqual(term['topologyKey'], 'kubernetes.io/hostname')

    def test_probe_fallback_documented(self):
        with open(os.path.join(dc.SOURCE_DIR, 'deploy', 'kubernetes', 'statefulset.yaml')) as f:
            self.assertTrue(re.search(r'container-entrypoint\.sh", "health"', f.read()))


if __name__ == '__main__':
    dc.main()

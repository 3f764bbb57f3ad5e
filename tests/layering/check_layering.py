#!/usr/bin/env python3
"""Checks the dependency direction of Alliance's folders (DESIGN §3) on every #include.

    check_layering.py SOURCE_DIR        exit 0 when clean; otherwise one line per offending
                                        include: path:line: "header" (rule broken), exit 1

Rules, by the folder of the including file (first match wins):
  base/           abseil and the standard library only
  wire/           base/
  crypto/         base/, wire/, crypto/, protobuf messages (never gRPC stubs, RocksDB, server,
                  client or care)
  care/           base/, wire/, crypto/, care/, protobuf messages
  server/infra/   base/, wire/, server/infra/, server records, protobuf messages
  server/store/   ... and server/store/ (never server/auth/ or server/services/)
  server/auth/    ... and server/store/, server/auth/
  server/         anything under server/, base/, wire/, protos, gRPC (never crypto/, client/,
                  care/)
  client/         base/, wire/, crypto/, care/, client/, protos, gRPC (never server/)
Nothing outside client/, app/ and tests/ includes client/; client.h, options.h, views.h and
events.h (what a front end embeds) include no gRPC, RocksDB or client internals, and the CLI uses
only them. Third-party headers: base/ and wire/
take abseil and libc only; nothing below the client and the relay takes gRPC or RocksDB.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+["<]([^">]+)[">]')
OURS = ('base/', 'wire/', 'crypto/', 'care/', 'client/', 'server/', 'app/', 'alliance/')
NETWORK_OR_DISK = ('grpc/', 'grpcpp/', 'rocksdb/')
PROTO_MESSAGES = re.compile(r'^alliance/v1/[a-z_]+\.pb\.h$')
PROTO_ANY = re.compile(r'^alliance/v1/[a-z_]+\.(grpc\.)?pb\.h$')
CARE = ('care/',)


def care_prefix(header):
    return header.startswith(CARE)


# The headers a front end embeds: no gRPC, RocksDB or client internals behind them.
FACADE = ('client/client.h', 'client/options.h', 'client/views.h', 'client/events.h')
FACADE_FORBIDDEN = ('grpc/', 'grpcpp/', 'rocksdb/', 'client/internal/', 'client/local_store.h',
                    'client/relay_connection.h', 'client/envelope_opener.h')


def allowed(path, header):
    """Returns None when `path` may include `header`, else the rule it breaks."""
    if path in FACADE and (header.startswith(FACADE_FORBIDDEN) or header.endswith('.grpc.pb.h')):
        return 'the client facade headers carry no gRPC, RocksDB or internal types'
    if header.startswith('client/internal/') and not path.startswith(('client/', 'tests/')):
        return 'client/internal/ is the client library\'s own'
    if header.startswith('client/internal/') and path.startswith('client/cli/'):
        return 'the CLI uses the Client facade, not its internals'
    if not header.startswith(OURS):  # the standard library or a third-party library
        if path.startswith(('base/', 'wire/')) and '/' in header and \
                not header.startswith(('absl/', 'sys/', 'arpa/', 'netinet/')):
            return 'base/ and wire/ use abseil and the standard library only'
        if path.startswith(('base/', 'wire/', 'crypto/') + CARE) and header.startswith(NETWORK_OR_DISK):
            return 'no gRPC or RocksDB below the client and the relay'
        return None
    if header == 'server/relay_records.pb.h':
        return None if path.startswith('server/') else 'relay records are the relay\'s own'
    if header.startswith('client/') and not care_prefix(header):
        if not path.startswith(('client/', 'app/', 'tests/')):
            return 'only client/, app/ and tests/ include client/'
    if path.startswith('base/'):
        return None if header.startswith('base/') else 'base/ depends on abseil only'
    if path.startswith('wire/'):
        return None if header.startswith(('base/', 'wire/')) else 'wire/ depends on base/ only'
    if path.startswith('crypto/'):
        if header.startswith(('base/', 'wire/', 'crypto/')) or PROTO_MESSAGES.match(header):
            return None
        return 'crypto/ uses base/, wire/ and proto messages only'
    if path.startswith(CARE):
        if header.startswith(('base/', 'wire/', 'crypto/')) or care_prefix(header) or \
                PROTO_MESSAGES.match(header):
            return None
        return 'care/ uses base/, wire/, crypto/ and proto messages only'
    if path.startswith('server/'):
        if header.startswith(('crypto/', 'client/')) or care_prefix(header):
            return 'server/ never includes crypto/, client/ or care/'
        layer_order = ['server/infra/', 'server/store/', 'server/auth/']
        for i, layer in enumerate(layer_order):
            if path.startswith(layer):
                above = [l for l in layer_order[i + 1:]] + ['server/services/', 'server/relay_']
                if header.startswith(tuple(above)):
                    return f'{layer} never includes the layers above it'
        return None
    if path.startswith('client/'):
        return 'client/ never includes server/' if header.startswith('server/') else None
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    bad = 0
    for top in ('base', 'wire', 'crypto', 'care', 'server', 'client', 'app'):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith(('.h', '.cc')):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                with open(full, encoding='utf-8') as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        rule = allowed(rel, m.group(1))
                        if rule:
                            print(f'{rel}:{number}: "{m.group(1)}" ({rule})')
                            bad += 1
    if bad:
        print(f'{bad} include(s) against the layering', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

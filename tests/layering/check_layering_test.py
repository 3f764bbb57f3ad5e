#!/usr/bin/env python3
"""The checker itself: each rule refuses what it should and names the line."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, 'check_layering.py')

CASES = [
    ('server/store/x.cc', '#include "crypto/keys.h"', False),
    ('server/store/x.cc', '#include "server/auth/authenticator.h"', False),
    ('server/infra/x.cc', '#include "server/store/mailbox.h"', False),
    ('server/services/x.cc', '#include "server/auth/authenticator.h"', True),
    ('crypto/x.cc', '#include "alliance/v1/relay_service.grpc.pb.h"', False),
    ('crypto/x.cc', '#include "alliance/v1/records.pb.h"', True),
    ('base/x.cc', '#include "wire/protocol.h"', False),
    ('wire/x.cc', '#include "base/bytes.h"', True),
    ('care/x.cc', '#include "client/client.h"', False),
    ('client/x.cc', '#include "server/relay_server.h"', False),
    ('client/cli/x.cc', '#include "client/client.h"', True),
    ('crypto/x.cc', '#include <grpcpp/grpcpp.h>', False),
    ('crypto/x.cc', '#include "rocksdb/db.h"', False),
    ('crypto/x.cc', '#include <sodium.h>', True),
    ('base/x.cc', '#include <sodium.h>', True),
    ('base/x.cc', '#include "google/protobuf/message.h"', False),
    ('server/store/x.cc', '#include "server/relay_records.pb.h"', True),
    ('client/x.cc', '#include "server/relay_records.pb.h"', False),
    ('client/client.h', '#include <grpcpp/grpcpp.h>', False),
    ('client/client.h', '#include "client/relay_connection.h"', False),
    ('client/views.h', '#include "alliance/v1/relay_service.grpc.pb.h"', False),
    ('client/cli/x.cc', '#include "client/internal/client_core.h"', False),
    ('client/core_inbox.cc', '#include "client/internal/client_core.h"', True),
]


def main():
    failures = 0
    for path, line, ok in CASES:
        with tempfile.TemporaryDirectory() as root:
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full))
            with open(full, 'w') as f:
                f.write('// test\n' + line + '\n')
            r = subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)
            if (r.returncode == 0) != ok:
                print(f'FAIL {path} {line}: exit {r.returncode}\n{r.stdout}')
                failures += 1
            elif not ok and f'{path}:2:' not in r.stdout:
                print(f'FAIL {path}: offending line not named: {r.stdout}')
                failures += 1
    print('ok' if failures == 0 else f'{failures} failure(s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())

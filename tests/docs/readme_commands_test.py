#!/usr/bin/env python3
"""Every `alliance` and `alliance-relay` command line in README.md and server/README.md parses.

    readme_commands_test.py SOURCE_DIR BINARY_DIR

Extracts the command lines from the shell blocks (joining continued lines, splitting the
documentation's `a | b` and side-by-side forms, taking the first of `x|y|z` alternatives and
filling <placeholders>), runs each against a scratch profile and data directory, and fails on
any command the CLI refuses to parse (exit 2 for `alliance`, CLI11's 100-114 for
`alliance-relay`). Other failures (no relay, not registered) are expected and fine: a
documented command may fail for want of a relay, never for its spelling.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

PLACEHOLDERS = {'invite': '00112233445566778899aabbccddeeff',
                'account': '00112233445566778899aabbccddeeff', 'id': 'abcd1234', 'device': '2'}


def shell_blocks(text):
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.startswith('```'):
            if inside:
                blocks.append(current)
                current = []
            inside = not inside
            continue
        if inside:
            current.append(line)
    return blocks


def command_lines(block):
    joined, pending = [], ''
    for line in block:
        if line.rstrip().endswith('\\'):
            pending += line.rstrip()[:-1] + ' '
            continue
        joined.append(pending + line)
        pending = ''
    out = []
    for line in joined:
        line = line.strip()
        if line.startswith('#'):
            line = line.lstrip('# ').removeprefix('or: ').strip()
        for part in re.split(r'\s{2,}(?=(?:alliance|alliance-relay) )', line):
            out.append(part.strip())
    return out


def fill(token):
    m = re.fullmatch(r'<([^>]*)>', token)
    if m:
        return PLACEHOLDERS.get(m.group(1), 'x')
    if re.fullmatch(r'[a-z-]+(\|[a-z-]+)+', token):
        return token.split('|')[0]
    return re.sub(r'<[^>]*>', 'x', token)


def commands(text):
    found = []
    for block in shell_blocks(text):
        for line in command_lines(block):
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            # `a | admin b | admin c`: one command per part, each continuing the program.
            parts, current = [], []
            for w in words:
                if w == '|':
                    parts.append(current)
                    current = []
                else:
                    current.append(w)
            parts.append(current)
            program = None
            for part in parts:
                if not part:
                    continue
                head = os.path.basename(part[0])
                if head in ('alliance', 'alliance-relay'):
                    program = head
                    found.append((program, [fill(w) for w in part[1:]]))
                elif program == 'alliance' and part[0] in ('admin', 'concern', 'goals'):
                    found.append((program, [fill(w) for w in part]))
    return found


def main():
    source, binary = sys.argv[1], sys.argv[2]
    cli = os.path.join(binary, 'client', 'alliance')
    relay = os.path.join(binary, 'server', 'alliance-relay')
    found = []
    for name in ('README.md', os.path.join('server', 'README.md')):
        with open(os.path.join(source, name), encoding='utf-8') as f:
            found += [(name, p, a) for p, a in commands(f.read())]
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        passfile = os.path.join(scratch, 'pass')
        with open(passfile, 'w') as f:
            f.write('a passphrase for the readme test\n')
        profile = os.path.join(scratch, 'profile')
        # A profile to run the commands against (the README's own `init` runs too).
        subprocess.run([cli, 'init', '--passphrase-cost', 'interactive', '--profile', profile,
                        '--passphrase-file', passfile], capture_output=True, timeout=60)
        for doc, program, args in found:
            if program == 'alliance':
                args = [a for a in args]
                for opt, value in (('--profile', profile), ('--passphrase-file', passfile)):
                    if opt in args:
                        args[args.index(opt) + 1] = value
                    else:
                        args += [opt, value]
                if args and args[0] == 'init':
                    args += ['--passphrase-cost', 'interactive']
                    args[args.index('--profile') + 1] = os.path.join(scratch, 'fresh')
                argv, parse_codes = [cli] + args, {2}
            else:
                args = [os.path.join(scratch, 'relay', os.path.basename(a)) if a.startswith('/')
                        else a for a in args]
                argv, parse_codes = [relay] + args, set(range(100, 115))
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                   stdin=subprocess.DEVNULL, cwd=scratch)
                code, err = r.returncode, r.stderr
            except subprocess.TimeoutExpired:
                code, err = 0, ''  # Parsed and running (watch, serve): fine.
            ok = code not in parse_codes
            print(f'{"ok  " if ok else "FAIL"} {doc}: {program} {" ".join(args)} -> {code}')
            if not ok:
                print('     ' + err.strip().replace('\n', '\n     '))
                failures += 1
    print(f'{len(found)} documented command(s), {failures} that do not parse')
    if len(found) < 20:
        print('too few commands found: the extraction is broken')
        return 1
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())

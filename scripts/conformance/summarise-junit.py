#!/usr/bin/env python3
"""summarise-junit.py FILE.xml: count passed/failed test cases in a JUnit XML report (node --test's junit
reporter or pytest --junitxml) and list each failure with the first line of its error.

Prints 'COUNTS pass=N fail=M skip=K' then one 'FAIL name :: first error line' per failure.
Works on any Python 3 (standard library only)."""

import html
import sys
import xml.etree.ElementTree as ET

MAX_LINE = 300


def first_line(element):
    """The first non-empty line of a failure's message (else its text). When that line only announces a
    wrapped traceback, the message's last line is the error itself, so that one is returned."""
    for source in (element.get('message') or '', element.text or ''):
        lines = [line.strip() for line in source.splitlines() if line.strip()]
        if not lines:
            continue
        line = lines[-1] if lines[0].endswith('Traceback (most recent call last):') else lines[0]
        if ':' not in line:
            # A bare 'AssertionError': pytest marks the failing source line with '>' in the text.
            marked = [t.strip()[1:].strip() for t in (element.text or '').splitlines() if t.strip().startswith('>')]
            if marked:
                line = f'{line} at `{marked[-1]}`'
        # node's junit reporter escapes messages twice (&amp;quot;); undo the second layer.
        return html.unescape(line)[:MAX_LINE]
    return '(no message)'


def case_name(case, parents):
    classname = case.get('classname') or ''
    name = case.get('name') or '?'
    # pytest names the test by a dotted classname; node's reporter sets classname 'test' and nests
    # describe() blocks as testsuites instead.
    prefix = classname if '.' in classname or not parents else ' > '.join(parents)
    return f'{prefix} > {name}' if prefix else name


def walk(element, parents, out):
    for child in element:
        if child.tag == 'testsuite':
            name = child.get('name') or ''
            walk(child, parents + [name] if name else parents, out)
        elif child.tag == 'testcase':
            problem = child.find('failure')
            if problem is None:
                problem = child.find('error')
            if problem is not None:
                out['fail'].append((case_name(child, parents), first_line(problem)))
            elif child.find('skipped') is not None:
                out['skip'] += 1
            else:
                out['pass'] += 1
        else:
            walk(child, parents, out)


def main():
    if len(sys.argv) != 2:
        print('usage: summarise-junit.py FILE.xml', file=sys.stderr)
        return 2
    try:
        root = ET.parse(sys.argv[1]).getroot()
    except (OSError, ET.ParseError) as err:
        print('COUNTS pass=0 fail=0 skip=0')
        print(f'FAIL (report unreadable) :: {err}')
        return 1
    out = {'pass': 0, 'skip': 0, 'fail': []}
    walk([root], [], out)
    print(f"COUNTS pass={out['pass']} fail={len(out['fail'])} skip={out['skip']}")
    for name, line in out['fail']:
        print(f'FAIL {name} :: {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

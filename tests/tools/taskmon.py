#!/usr/bin/python3
"""taskmon ROOT_PID OUT [INTERVAL_S]: follows every process descended from
ROOT_PID (kept once seen, even if reparented) and every thread of them,
polling /proc, until ROOT_PID is gone. Writes one line per thread:
    pid tid cpu_ms comm[|comm2...]
with the last CPU time seen (utime + stime) and every name it had. The
suite compares these per-thread figures with the profile's thread labels."""
import os, sys, time

root, out = int(sys.argv[1]), sys.argv[2]
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
hz = os.sysconf('SC_CLK_TCK')


def stat(path):
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    l, r = s.find('('), s.rfind(')')
    rest = s[r + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12)
    return s[l + 1:r], int(rest[1]), int(rest[11]) + int(rest[12])


tracked = {root}
threads = {}  # tid -> [pid, ticks, [names]]
while True:
    if stat('/proc/%d/stat' % root) is None and root in tracked:
        alive_root = False
    else:
        alive_root = True
    parents = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = stat('/proc/%s/stat' % d)
            if st:
                parents[int(d)] = st[1]
    grew = True
    while grew:
        grew = False
        for p, pp in parents.items():
            if p not in tracked and pp in tracked:
                tracked.add(p)
                grew = True
    for p in list(tracked):
        if p not in parents:
            continue
        try:
            tids = os.listdir('/proc/%d/task' % p)
        except OSError:
            continue
        for t in tids:
            st = stat('/proc/%d/task/%s/stat' % (p, t))
            if not st:
                continue
            e = threads.setdefault(int(t), [p, 0, []])
            e[1] = max(e[1], st[2])
            if st[0] not in e[2]:
                e[2].append(st[0])
    if not alive_root:
        break
    time.sleep(interval)

with open(out, 'w') as f:
    for t, (p, ticks, names) in sorted(threads.items()):
        f.write('%d %d %d %s\n' % (p, t, ticks * 1000 // hz, '|'.join(n.replace(' ', '_') for n in names)))

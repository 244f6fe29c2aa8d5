#!/usr/bin/python3
"""profsum FILE...: sums CPU profiles (via `go tool pprof -raw`) and prints
    files N            profiles that pprof could read
    unreadable FILE    (one per file pprof rejects)
    total_ms X         cpu/nanoseconds of every sample, in ms
    samples N          samples/count of every sample (0 if no such type)
    named_pct X        share of that CPU whose leaf frame names a function
    top F1 F2 ...      up to 8 named leaf functions, most CPU first
    thread TID MS NAME CPU per thread_id label (NAME: its thread_name
                       label, spaces as _; '-' if none)
    dropped N          samples the agent took but could not keep (its
                       "dropped N samples" comments)
    start_ms X         CPU the processes had used before the agent started
                       in them (their "start: X ms" comments), in ms
    loader N DEEP      samples whose leaf is in the dynamic loader, and how
                       many of them have more than that one frame"""
import re, subprocess, sys
from collections import defaultdict

total = 0
named = 0
by_fn = defaultdict(int)
by_tid = defaultdict(int)
tid_name = {}
files = 0
dropped = 0
start_ms = 0.0
nsamples = 0
loader = loader_deep = 0
for path in sys.argv[1:]:
    r = subprocess.run(['go', 'tool', 'pprof', '-raw', path], capture_output=True, text=True)
    if r.returncode != 0 or 'Samples:' not in r.stdout:
        print('unreadable', path)
        continue
    files += 1
    lines = r.stdout.splitlines()
    for ln in lines:
        m = re.match(r'Comment: dropped (\d+) samples', ln)
        if m:
            dropped += int(m.group(1))
        m = re.match(r'Comment: start: ([\d.]+) ms of CPU before the agent started', ln)
        if m:
            start_ms += float(m.group(1))
    i = lines.index('Samples:') + 1
    header = lines[i].split()
    col = header.index('cpu/nanoseconds') if 'cpu/nanoseconds' in header else len(header) - 1
    ccol = header.index('samples/count') if 'samples/count' in header else -1
    samples = []
    i += 1
    cur = None
    while i < len(lines) and lines[i] != 'Locations':
        ln = lines[i]
        m = re.match(r'\s*([\d\s]+):\s*([\d\s]*)$', ln)
        if m and not ln.strip().startswith(('thread', 'trace', 'span', 'bytes')):
            vals = m.group(1).split()
            cur = {'v': int(vals[col]), 'locs': [int(x) for x in m.group(2).split()], 'lab': {}}
            if ccol >= 0:
                nsamples += int(vals[ccol])
            samples.append(cur)
        else:
            lm = re.match(r'\s*([A-Za-z_.]+):\[(.*)\]\s*$', ln)
            if lm and cur is not None:
                cur['lab'][lm.group(1)] = lm.group(2)
        i += 1
    locfn = {}
    locmap = {}
    i += 1
    while i < len(lines) and lines[i] != 'Mappings':
        m = re.match(r'\s*(\d+):\s*0x[0-9a-f]+\s+M=(\d+)(?:\s+(\S+))?', lines[i])
        if m:
            locmap[int(m.group(1))] = int(m.group(2))
            if m.group(3):
                locfn[int(m.group(1))] = m.group(3)
        i += 1
    maps = {}
    for ln in lines[i + 1:]:
        m = re.match(r'(\d+):\s*\S+\s+(\S+)', ln)
        if m:
            maps[int(m.group(1))] = m.group(2)
    for s in samples:
        if s['locs'] and 'ld-linux' in maps.get(locmap.get(s['locs'][0]), ''):
            loader += 1
            loader_deep += len(s['locs']) > 1
        v = s['v']
        total += v
        leaf = locfn.get(s['locs'][0]) if s['locs'] else None
        if leaf:
            named += v
            by_fn[leaf] += v
        tid = s['lab'].get('thread_id', '-')
        by_tid[tid] += v
        name = s['lab'].get('thread_name', '-').replace(' ', '_')
        tid_name.setdefault(tid, defaultdict(int))[name] += v

print('files', files)
print('total_ms %.0f' % (total / 1e6))
print('named_pct %.0f' % (100.0 * named / total if total else 0))
print('samples', nsamples)
print('dropped', dropped)
print('start_ms %.0f' % start_ms)
print('loader', loader, loader_deep)
print('top', ' '.join(f for f, _ in sorted(by_fn.items(), key=lambda kv: -kv[1])[:8]))
for tid, v in sorted(by_tid.items(), key=lambda kv: -kv[1]):
    names = tid_name[tid]
    print('thread %s %.0f %s' % (tid, v / 1e6, max(names, key=names.get)))

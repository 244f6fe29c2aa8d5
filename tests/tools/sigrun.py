#!/usr/bin/env python3
"""Runs a command, ends it with a signal, reports how it ended.

usage: sigrun.py SIGNAL DELAY [--ready | --pipe] -- CMD...
  default  sends SIGNAL after DELAY seconds
  --ready  waits for the command's first stdout line, then DELAY, then SIGNAL
  --pipe   closes the read end of the command's stdout after DELAY (the
           command meets SIGPIPE at its next write); SIGNAL is ignored
Prints "status=S cpu_ms=C" (S: the returncode, -N for signal N; C: user +
system CPU of the command and its children), then the command's output in
--ready mode.
"""
import os
import resource
import signal
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    sig = getattr(signal, "SIG" + args[0]) if not args[0].isdigit() else int(args[0])
    delay = float(args[1])
    mode = args[2] if args[2] != "--" else ""
    cmd = args[args.index("--") + 1:]
    out = ""
    if mode == "--ready":
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        out = p.stdout.readline()
        time.sleep(delay)
        p.send_signal(sig)
        out += p.stdout.read()
        p.wait()
    elif mode == "--pipe":
        r, w = os.pipe()
        p = subprocess.Popen(cmd, stdout=w)
        os.close(w)
        time.sleep(delay)
        os.close(r)
        p.wait()
    else:
        p = subprocess.Popen(cmd)
        time.sleep(delay)
        p.send_signal(sig)
        p.wait()
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("status=%d cpu_ms=%d" % (p.returncode, (u.ru_utime + u.ru_stime) * 1000))
    sys.stdout.write(out)


main()

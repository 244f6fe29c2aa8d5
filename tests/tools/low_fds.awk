# Reads `strace -f` output of a program that closed its descriptors 0-2
# and prints every system call that used one of those numbers for
# something other than:
#  - moving a descriptor the agent just got there above 2 (the same
#    thread's next call: fcntl(N, F_DUPFD_CLOEXEC, 3)), then closing it;
#  - the program's own closes and failing writes (write(1|2, "out|err"));
#  - the placeholders the agent's thread puts on the numbers the program
#    closed while it works (O_PATH descriptors of /): made, looked at
#    (fstat, F_GETFL) and closed;
#  - probes of whether a number is open (fcntl F_GETFD), and the log's
#    probe of stderr's identity (fstat of 2);
#  - the transient read-only opens of the loader loading a library and of
#    the private allocator's start, which the agent does not make: the
#    loader's /etc/ld.so.cache and *.so files, the allocator's
#    /proc/sys/vm/overcommit_memory and transparent_hugepage settings.
# Prints "moved K" and "placeholders P" last.
function fdcall(s,    m) {
  if (match(s, /^(read|write|pread64|pwrite64|readv|writev|fstat|newfstatat|statx|lseek|getdents64|fchmod|fsync|fdatasync|ftruncate|renameat|renameat2|openat|unlinkat|connect|sendto|recvfrom|sendmsg|recvmsg|setsockopt|getsockopt|getsockname|getpeername|ioctl|fcntl|close|shutdown|flock|fadvise64|poll|ppoll)\(/)) {
    if (match(s, /^[a-z0-9_]+\([0-2][,)]/)) return substr(s, RLENGTH - 1, 1) + 0
    if (match(s, /fd=[0-2],/)) return substr(s, RSTART + 3, 1) + 0
  }
  if (match(s, /^mmap\([^,]*, [^,]*, [^,]*, [^,]*, [0-2], /)) return substr(s, RLENGTH - 2, 1) + 0
  return -1
}
{
  pid = $1; s = $0; sub(/^[0-9]+ +/, "", s)
  # a call another thread's interrupted: joined again
  if (s ~ / <unfinished \.\.\.>$/) { sub(/ <unfinished \.\.\.>$/, "", s); part[pid] = s; next }
  if (s ~ /^<\.\.\. [a-z0-9_]+ resumed>/) { sub(/^<\.\.\. [a-z0-9_]+ resumed> ?/, "", s); s = part[pid] s; delete part[pid] }
  res = s; sub(/.*= /, "", res); sub(/ .*/, "", res)
  if (pid in pending) {
    n = pending[pid]; delete pending[pid]
    if (index(s, "fcntl(" n ", F_DUPFD_CLOEXEC, 3") == 1) { moved++; closing[n] = 1; next }
    print "not moved at once: " pid " " opened[pid]
  }
  if (s ~ /^openat\(AT_FDCWD, "\/", [A-Z_|]*O_PATH[A-Z_|]*\) += [0-2]$/) {
    held[res + 0] = 1; placeholders++; next
  }
  if (s ~ /^(socketpair|pipe2)\(/) {
    if (s ~ /\[[0-2],|, [0-2]\]/) print pid " " s
    next
  }
  if (s ~ /^(openat|open|socket|memfd_create|eventfd2|dup|accept4?)\(/ && res ~ /^[0-2]$/) {
    if (s ~ /"(\/etc\/ld\.so\.cache|[^"]*\.so(\.[0-9]+)*|\/proc\/sys\/vm\/overcommit_memory|\/sys\/kernel\/mm\/transparent_hugepage\/[a-z_]+)"/ && s ~ /O_RDONLY/) {
      foreign[res] = 1; next
    }
    pending[pid] = res; opened[pid] = s; next
  }
  n = fdcall(s)
  if (n < 0) next
  if (s ~ /^fcntl\([0-2], F_GETFD\)/) next
  if (foreign[n]) { if (s ~ /^close\(/) delete foreign[n]; next }
  if (held[n]) { if (s ~ /^close\(/) delete held[n]; if (s ~ /^(close\(|newfstatat\([0-2], ""|fcntl\([0-2], F_GETFL\))/) next }
  if (closing[n] && s ~ /^close\(/) { delete closing[n]; next }
  if (s ~ /^close\([0-2]\) += 0/ && !started[n]++) next
  if (s ~ /^write\([12], "(out|err)\\n", 4\) += -1 EBADF/) next
  if (s ~ /^newfstatat\(2, "", /) next
  print pid " " s
}
END { print "moved " moved + 0; print "placeholders " placeholders + 0 }

# Dropping privileges while the agent's thread runs: glibc applies set*id
# to every thread and aborts when they disagree (keep-capabilities is per
# thread). Root only: the program changes its uid.
source "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: setid: needs root to change uid"
  finish
fi
# The profiles of the whole run are written after the uid change: give
# the new uid a directory it may write to.
chmod 711 "$WORK" && mkdir -p "$WORK/out" && chmod 1777 "$WORK/out"
AGENT_SETTINGS=(OTPROF_MEMORY_SAMPLE_BYTES=65536)
same_as_bare "drop_privs after the flusher ran" "$PROGS/drop_privs"
check "drop_privs: its heap profile written" \
  bash -c "ls '$WORK'/out/drop_privs.*.heap.pb.gz > /dev/null 2>&1"
if command -v setpriv > /dev/null; then
  AGENT_SETTINGS=()
  same_as_bare "setpriv --reuid --regid --clear-groups" \
    setpriv --reuid=65534 --regid=65534 --clear-groups id -u
  same_as_bare "setpriv --reuid --regid --init-groups" \
    setpriv --reuid=65534 --regid=65534 --init-groups id -g
fi
finish

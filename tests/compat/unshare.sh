# unshare -Ur: a new user namespace needs a single-threaded caller.
source "$(dirname "$0")/lib.sh"
c_run bare unshare 30 -- unshare -Ur id
if [ "$(c_rc unshare bare)" != 0 ]; then
  echo "SKIP: unshare: user namespaces are not allowed here (bare run: $(head -1 "$WORK/unshare.bare/err"))"
  finish
fi
c_run agent unshare 30 -- unshare -Ur id
c_same unshare
# The same after the program has been running for a while (threads the
# agent may start later), from a shell that forks it.
c_run bare unshare-late 30 -- bash -c 'n=0; while [ $n -lt 30000 ]; do n=$((n + 1)); done; unshare -Ur id; exec unshare -Ur sh -c "id -u"'
c_run agent unshare-late 30 -- bash -c 'n=0; while [ $n -lt 30000 ]; do n=$((n + 1)); done; unshare -Ur id; exec unshare -Ur sh -c "id -u"'
c_same unshare-late
finish

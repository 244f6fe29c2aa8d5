# daemon(3): glibc forks, and the parent leaves with the C library's
# internal _exit, past the agent's _exit wrapper. The parent's profile,
# what it did before daemon() (a server's start-up), was lost: no file.
# Now the fork's parent handler exports it first. The daemon child's
# profile is its own, as before.
source "$(dirname "$0")/../lib.sh"

P="$PROGS/daemonize"
"$P" "$WORK/bare.done"; rb=$?
rm -rf "$WORK/out"
under_agent -- "$P" "$WORK/prof.done"; rp=$?
check "the parent exits as without the agent ($rp, bare $rb)" [ "$rp" = "$rb" -a "$rp" = 0 ]
for i in $(seq 1 100); do [ -e "$WORK/prof.done" ] && [ -e "$WORK/bare.done" ] && break; sleep 0.1; done
sleep 0.5 # the daemon's export after its marker
check "the daemon ran to its end" [ -e "$WORK/prof.done" ]
# ms_in FUNC: FUNC's ms in the profile that holds it.
ms_in() {
  local f g
  for f in "$WORK"/out/daemonize.*.cpu.pb.gz; do
    [ -e "$f" ] || continue
    g=$(go tool pprof -top -unit=ms -nodefraction=0 "$f" 2>/dev/null | awk -v fn="$1" '$NF == fn { sub("ms", "", $4); print $4 }')
    [ -n "$g" ] && { echo "$g"; return; }
  done
  echo 0
}
pre=$(ms_in before_daemon); post=$(ms_in in_daemon)
check "the parent's profile holds its work before daemon(): ${pre} ms of 500 (>= 400)" \
  awk -v g="$pre" 'BEGIN { exit !(g >= 400) }'
check "the daemon's profile holds its work: ${post} ms of 500 (>= 400)" \
  awk -v g="$post" 'BEGIN { exit !(g >= 400) }'
finish

# glibc's own profiling (a program built with -pg, or one that calls
# profil) installs its SIGPROF counter with the C library's internal
# sigaction, past the agent's wrapper. The counter took SIGPROF from the
# agent, counted the agent's timer signals as its own (gprof reported
# 9.7 s of a 5.4 s run) and the agent's profile stayed empty. Now the
# agent takes SIGPROF back after each of glibc's profiling calls: the
# program's output is the same, gprof's times are right, and the
# agent's profile holds the run. The program also turns the counter off
# and on again mid-run, and reports the SIGPROF handler it sees while
# the counter is off (glibc put back the one it found: the default).
source "$(dirname "$0")/../lib.sh"

cat > "$WORK/g.c" <<'C'
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/gmon.h>
#include <time.h>

__attribute__((noinline)) double work(int n)
{
    volatile double s = 0;
    for (int i = 1; i < n; i++)
        s += 1.0 / i;
    return s;
}

static void burn(double secs)
{
    clock_t end = clock() + (clock_t)(secs * CLOCKS_PER_SEC);
    while (clock() < end)
        work(200000);
}

static const char *seen(void)
{
    struct sigaction a;
    sigaction(SIGPROF, NULL, &a);
    return !(a.sa_flags & SA_SIGINFO) && a.sa_handler == SIG_DFL ? "default" : "a handler";
}

int main(void)
{
    printf("counting: SIGPROF has %s\n", seen());
    burn(0.9);
    moncontrol(0);
    printf("off: SIGPROF has %s\n", seen());
    moncontrol(1);
    printf("on again: SIGPROF has %s\n", seen());
    burn(0.9);
    FILE *f = fopen("cpu_ms", "w");
    fprintf(f, "%.0f\n", clock() * 1000.0 / CLOCKS_PER_SEC);
    fclose(f);
    return 3;
}
C
cc -O1 -pg -o "$WORK/g" "$WORK/g.c" || { fail "cc -pg"; finish; }

# gprof_ms DIR: work's self time in DIR/gmon.out, in ms.
gprof_ms() { (cd "$1" && gprof -b -p "$WORK/g" gmon.out 2>/dev/null) | awk '$NF == "work" { printf "%.0f", $3 * 1000 }'; }

mkdir -p "$WORK/bare" "$WORK/prof"
bare_out=$(cd "$WORK/bare" && "$WORK/g" 2>&1); bare_rc=$?
prof_out=$(cd "$WORK/prof" && under_agent -- "$WORK/g" 2>&1); prof_rc=$?
check "same exit status as without the agent ($prof_rc, bare $bare_rc)" [ "$prof_rc" = "$bare_rc" ]
check "same output, the handler seen while the counter is off included" [ "$prof_out" = "$bare_out" ]
[ "$prof_out" = "$bare_out" ] || diff <(echo "$bare_out") <(echo "$prof_out")
used=$(cat "$WORK/prof/cpu_ms" 2>/dev/null || echo 0)
g_bare=$(gprof_ms "$WORK/bare"); g_prof=$(gprof_ms "$WORK/prof")
echo "  gprof's work: ${g_bare:-?} ms bare, ${g_prof:-?} ms under the agent, of ${used} ms of CPU"
check "gprof counts its own signals only: work ${g_prof:-0} ms of ${used} ms of CPU (within 20%)" \
  awk -v g="${g_prof:-0}" -v u="$used" 'BEGIN { exit !(u > 0 && g > 0.8 * u && g < 1.2 * u) }'
f=$(ls "$WORK"/out/g.*.cpu.pb.gz 2>/dev/null | head -1)
got=0; [ -n "$f" ] && got=$(pprof_total_ms "$f")
check "the agent's profile holds ${got} ms of ${used} ms of CPU (>= 80%)" \
  awk -v g="${got:-0}" -v u="$used" 'BEGIN { exit !(u > 0 && g >= 0.8 * u) }'
share=0; [ -n "$f" ] && share=$(pprof_cum "$f" work)
check "work holds ${share}% of it (>= 80%)" awk -v s="$share" 'BEGIN { exit !(s >= 80) }'
finish

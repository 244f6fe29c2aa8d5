# A thread started by another library's constructor, before the agent
# existed, gets full stacks from its first samples on (not only its leaf
# frame): the unwinder's per-thread state is set up from the profiling
# signal when that is provably safe.
source "$(dirname "$0")/../lib.sh"

cat > "$WORK/early.c" <<'C'
#include <pthread.h>
#include <time.h>
static volatile unsigned long sink;
__attribute__((noinline)) void early_inner(void) { for (int i = 0; i < 2000000; i++) sink += (unsigned long)i * 7; }
__attribute__((noinline)) void early_burner(void) {
  struct timespec a, b; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do { early_inner(); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b); }
  while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 800000000L);
}
static void *run(void *p) { (void)p; early_burner(); return 0; }
__attribute__((constructor)) static void start(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_detach(t); }
C
cc -shared -fPIC -O1 -g -fno-inline -o "$WORK/libearly.so" "$WORK/early.c" -lpthread
# The library is preloaded after the agent, so its constructor (and its
# thread) runs first; the main program makes no heap samples on that
# thread, which used to be the only way it got full stacks.
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$AGENT $WORK/libearly.so" "$PROGS/cpu_split" 1 1 0.5 >/dev/null 2>&1
f=$(ls "$WORK"/out/*.cpu.pb.gz 2>/dev/null | head -1)
inner=0; burner=0; starts=0
if [ -n "$f" ]; then
  inner=$(pprof_cum "$f" early_inner); burner=$(pprof_cum "$f" early_burner)
  starts=$(go tool pprof -traces "$f" 2>/dev/null | awk '/early_inner/ { t = 1 } /-----/ { t = 0 } t && /start_thread/ { n++ } END { print n + 0 }')
fi
echo "  early thread: early_inner ${inner}% (leaf), early_burner ${burner}% (its caller)"
check "the early thread is profiled (early_inner named)" awk -v a="$inner" 'BEGIN { exit !(a > 20) }'
check "its samples have the caller frame too (early_burner within 2 points of early_inner)" \
  within "$burner" "$inner" 2
check "its stacks reach the thread's start" [ "$starts" -ge 1 ]
finish

# Code the app unloads with dlclose before the export keeps its names: a
# host burns 1 s in a plugin it dlopen'ed, dlcloses it, burns 0.5 s of
# its own and exits. The profile holds the plugin's two thirds under the
# plugin's functions, with its source lines and its mapping, and almost
# nothing "<unknown>" (the previous build: 65% unknown). The same with a
# thread started first (the agent's own thread then runs meanwhile), and
# for heap samples allocated inside the plugin.
source "$(dirname "$0")/../lib.sh"

cat > "$WORK/plug.c" <<'C'
#include <stdlib.h>
#include <time.h>
static volatile unsigned long sink;
__attribute__((noinline)) void plugin_inner(void) { for (int i = 0; i < 100000; i++) sink += (unsigned long)i * 7; }
__attribute__((noinline)) void *plugin_alloc(size_t n) { return malloc(n); }
void plugin_burn(double s) {
  struct timespec a, b; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do { plugin_inner(); free(plugin_alloc(64 << 10)); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b); }
  while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < s);
}
C
cat > "$WORK/host.c" <<'C'
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
static volatile unsigned long sink;
__attribute__((noinline)) void host_burn(double s) {
  struct timespec a, b; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do { for (int i = 0; i < 100000; i++) sink += (unsigned long)i; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b); }
  while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < s);
}
static void *idle(void *a) { return a; }
int main(int argc, char **argv) {
  if (argc > 2) { pthread_t t; pthread_create(&t, 0, idle, 0); pthread_join(t, 0); }
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  void (*burn)(double) = (void (*)(double))dlsym(h, "plugin_burn");
  burn(1.0);
  if (dlclose(h) != 0) return 2;
  host_burn(0.5);
  puts("done");
  return 0;
}
C
cc -shared -fPIC -O1 -g -o "$WORK/libplug.so" "$WORK/plug.c"
cc -O1 -g -o "$WORK/host" "$WORK/host.c" -ldl -lpthread
for mode in single threaded; do
  rm -rf "$WORK/out"
  arg=""; [ $mode = threaded ] && arg=mt
  out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=65536 -- "$WORK/host" "$WORK/libplug.so" $arg)
  check "$mode: the host runs as usual ($out)" [ "$out" = done ]
  f=$(ls "$WORK"/out/host.*.cpu.pb.gz 2>/dev/null | head -1)
  h=$(ls "$WORK"/out/host.*.heap.pb.gz 2>/dev/null | head -1)
  plug=0; unk=0; lines=0; maps=0; heap=0
  if [ -n "$f" ]; then
    plug=$(pprof_cum "$f" plugin_inner); unk=$(pprof_cum "$f" '<unknown>')
    lines=$(go tool pprof -lines -top "$f" 2>/dev/null | grep -c 'plugin_inner .*plug.c:')
    maps=$(go tool pprof -raw "$f" 2>/dev/null | grep -c 'libplug.so')
  fi
  [ -n "$h" ] && heap=$(go tool pprof -sample_index=alloc_space -top "$h" 2>/dev/null | awk '$NF == "plugin_alloc" { print $2 }' | tr -d '%')
  echo "  $mode: plugin_inner ${plug}%, <unknown> ${unk}%, heap plugin_alloc ${heap:-0}%"
  check "$mode: the plugin's CPU under its own name (${plug}% of the 66.7%)" within "${plug:-0}" 66.7 8
  check "$mode: at most 2% <unknown> (${unk}%)" within "${unk:-0}" 0 2
  check "$mode: with its source lines" [ "${lines:-0}" -ge 1 ]
  check "$mode: and its mapping in the profile" [ "${maps:-0}" -ge 1 ]
  # The plugin makes all but a few of the host's allocations.
  check "$mode: heap samples allocated in the plugin keep its name (${heap:-0}% of alloc_space)" within "${heap:-0}" 97.5 2.5
done
finish

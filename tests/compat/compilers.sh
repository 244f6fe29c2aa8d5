# gcc and clang compiling a generated C file (driver, cc1/clang, as), and
# make -j2 building a small project: many short processes per run.
source "$(dirname "$0")/lib.sh"
python3 - "$WORK" <<'PY'
import os, sys
w = sys.argv[1]
def unit(k, n):
    out = ['#include <stdio.h>', '#include <string.h>']
    for i in range(n):
        out.append('static int f%d_%d(const char *s, int x) { int h = x * %d; '
                   'for (size_t j = 0; j < strlen(s); j++) h = h * 31 + s[j] + (x >> (j %% 7)); '
                   'switch (h & 7) { case 0: h += %d; break; case 1: h ^= %d; break; case 3: h -= x; break; default: h *= 3; } '
                   'return h; }' % (k, i, i + 1, i, i * 7))
    out.append('int unit%d(int x) { int h = 0;' % k)
    for i in range(n):
        out.append('  h += f%d_%d("unit%d-%d", x + h);' % (k, i, k, i))
    out.append('  return h; }')
    return '\n'.join(out) + '\n'
open(os.path.join(w, 'big.c'), 'w').write(unit(0, 120) + 'int main(void) { printf("%d\\n", unit0(3)); return 0; }\n')
p = os.path.join(w, 'proj'); os.mkdir(p)
for k in range(1, 9):
    open(os.path.join(p, 'u%d.c' % k), 'w').write(unit(k, 25))
open(os.path.join(p, 'main.c'), 'w').write(
    '#include <stdio.h>\n' + ''.join('int unit%d(int);\n' % k for k in range(1, 9)) +
    'int main(void) { int h = 0;\n' + ''.join('  h ^= unit%d(%d);\n' % (k, k) for k in range(1, 9)) +
    '  printf("%d\\n", h); return 0; }\n')
open(os.path.join(p, 'Makefile'), 'w').write(
    'OBJ = main.o ' + ' '.join('u%d.o' % k for k in range(1, 9)) + '\n'
    'prog: $(OBJ)\n\t$(CC) -o $@ $(OBJ)\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n')
PY
for cc in gcc clang; do
  for mode in bare agent; do
    c_run "$mode" "$cc" 180 -- sh -c "$cc -O2 -o '$WORK/big.$cc.$mode' '$WORK/big.c' && '$WORK/big.$cc.$mode'"
  done
  c_same "$cc"
  check "$cc: the same code generated (bare vs agent)" \
    cmp -s <(objdump -d --no-show-raw-insn "$WORK/big.$cc.bare" | tail -n +3) <(objdump -d --no-show-raw-insn "$WORK/big.$cc.agent" | tail -n +3)
  c_profile "$cc"
done

# gcc -time reports, on stderr, the CPU of each program the driver ran
# (cc1, as, collect2), as wait4 gave it: the build's work, measured by the
# kernel in the same run, for its profiles to hold. The compilers (cc1,
# ~0.2 s each) are compared: an assembler run of a few ms is mostly exec,
# loading and exit, which no sampler sees.
for mode in bare agent; do
  rm -rf "$WORK/proj.$mode"; cp -r "$WORK/proj" "$WORK/proj.$mode"
  c_run "$mode" make-j2 180 -- sh -c "make -s -j2 -C '$WORK/proj.$mode' CC='gcc -time' && '$WORK/proj.$mode/prog'"
done
c_same make-j2
ref=$(awk '$1 == "#" && $2 == "cc1" { s += $3 + $4; n++ } END { printf "%d %d", s * 1000, n }' "$WORK/make-j2.agent/err")
check "make-j2: gcc -time reported the 9 cc1 runs (got ${ref#* })" [ "${ref#* }" = 9 ]
C_TOTAL_BASIS=given C_TOTAL_REF_MS=${ref% *} C_TOTAL_REF_WHAT="of CPU that gcc -time measured for the compilers (cc1)" \
  C_TOTAL_FILES='cc1.*.cpu.pb.gz' c_profile make-j2
finish

# Debian's own programs under heap profiling (sample_bytes 65536, so even
# short runs are sampled; CPU profiling on too): same output and exit
# status as without the agent, and heap profiles that go tool pprof reads
# and that name functions.
source "$(dirname "$0")/../lib.sh"
AGENT_SETTINGS=(OTPROF_MEMORY_SAMPLE_BYTES=65536)
# heap_named NAME GLOB: heap profiles exist, are read with every sample
# index, and their stacks name functions (leaf or callers).
heap_named() {
  local name=$1 glob=$2 files f bad="" names
  files=$(ls $glob 2>/dev/null)
  check "$name: heap profile written" [ -n "$files" ]
  [ -n "$files" ] || return
  for f in $files; do
    for idx in inuse_space alloc_space alloc_objects; do
      go tool pprof -top -sample_index=$idx "$f" >/dev/null 2>&1 || bad="$bad $(basename "$f"):$idx"
    done
  done
  check "$name: go tool pprof reads every heap profile${bad:+ (not:$bad)}" [ -z "$bad" ]
  names=$(for f in $files; do
      go tool pprof -top -cum -nodecount=25 -sample_index=alloc_space "$f" 2>/dev/null |
        awk '/flat%/ {t = 1; next} t && NF >= 6 {print $6}'
    done | grep -vE '^(0x|\[)' | sort -u | head -6 | tr '\n' ' ')
  echo "  $name: $names"
  check "$name: heap stacks name functions" [ -n "$names" ]
}

PY=/usr/bin/python3
cat > "$WORK/alloc.py" <<'PY'
import json
rows = [{"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 7)] * 3} for i in range(60000)]
blob = json.dumps(rows)
back = json.loads(blob)
big = [bytes(4096) for _ in range(2000)]
print(len(blob), len(back), sum(len(b) for b in big))
PY
same_as_bare python3 "$PY" "$WORK/alloc.py"
heap_named python3 "$WORK/out/python3*.heap.pb.gz"

cat > "$WORK/work.sql" <<'SQL'
CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, hex(randomblob(16)) || x FROM c;
CREATE INDEX ti ON t(b);
SELECT count(*), sum(a % 97), count(DISTINCT substr(b, 1, 3)) > 0 FROM t;
SQL
same_as_bare sqlite3 sh -c "sqlite3 :memory: < '$WORK/work.sql'"
heap_named sqlite3 "$WORK/out/sqlite3*.heap.pb.gz"

head -c 3000000 /dev/urandom | base64 > "$WORK/data.txt"
same_as_bare "xz -T2" sh -c "xz -T2 -6 -c '$WORK/data.txt' | sha256sum"
heap_named "xz -T2" "$WORK/out/xz*.heap.pb.gz"

script='for i in $(seq 1 2000); do a[$i]="value-$i-$((i * i))"; done; echo ${#a[@]}
s=""; for i in $(seq 1 3000); do s="$s$i,"; done; echo ${#s}
( cd / && pwd ) | cat; x=$(exec /bin/echo from-exec); echo "$x"
printf "%s\n" "${a[@]}" | sort | uniq | wc -l'
same_as_bare "bash -c" bash -c "$script"
heap_named "bash -c" "$WORK/out/bash*.heap.pb.gz"
finish

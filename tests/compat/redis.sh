# redis-server on 127.0.0.1 driven by redis-benchmark, then a few commands
# whose replies must be the same; the server is shut down by the client.
source "$(dirname "$0")/lib.sh"
serve() {  # MODE
  local mode=$1 port
  port=$(free_port)
  mkdir -p "$WORK/redis.$1.data"
  c_start "$mode" redis 180 -- redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize no --dir "$WORK/redis.$1.data"
  C_CLEANUP+=("redis-cli -p $port shutdown nosave")
  if ! wait_port "$port" 20; then fail "redis ($mode): server listens"; c_why redis "$mode"; return 1; fi
  {
    timeout -k 5 120 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 30000 -c 10 -P 4 -t set,get,incr,lpush,lpop,hset \
      > "$WORK/bench.$mode" 2>&1
    echo "benchmark status $?"
    redis-cli -p "$port" set k v; redis-cli -p "$port" incrby n 41; redis-cli -p "$port" incr n
    redis-cli -p "$port" rpush l a b c; redis-cli -p "$port" lrange l 0 -1; redis-cli -p "$port" get k
    redis-cli -p "$port" shutdown nosave
  } > "$WORK/client.$mode" 2>&1
  c_wait "$mode" redis
  sed 's/^/    /' "$WORK/bench.$mode" | tr '\r' '\n' | grep -a 'requests per second' | head -6
}
serve bare
serve agent
check "redis: redis-benchmark and client see the same replies (bare vs agent)" cmp -s "$WORK/client.bare" "$WORK/client.agent"
check "redis: benchmark succeeded" grep -qx "benchmark status 0" "$WORK/client.agent"
diff "$WORK/client.bare" "$WORK/client.agent" | head -5 | sed 's/^/    /'
check "redis: server exit status the same (bare $(c_rc redis bare), agent $(c_rc redis agent))" \
  [ "$(c_rc redis bare)" = "$(c_rc redis agent)" ]
check "redis: bare server exits 0 (suite sanity)" [ "$(c_rc redis bare)" = 0 ]
c_profile redis
finish

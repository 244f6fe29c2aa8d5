# PostgreSQL: initdb (which runs the server in single-user mode many times),
# then a server on 127.0.0.1 under pgbench. PostgreSQL refuses to run as
# root, so both run as the postgres user in a directory it owns.
source "$(dirname "$0")/lib.sh"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -1)
PGUSER=postgres
id "$PGUSER" > /dev/null 2>&1 || PGUSER=nobody
chmod 0711 "$WORK"
export C_AS_USER=$PGUSER
DATA="$WORK/pgdata"

# Same data dir path for both initdb runs, so their output is comparable.
for mode in bare agent; do
  install -d -o "$PGUSER" -m 0700 "$DATA"
  C_POLL_S=0.02 c_run "$mode" initdb 180 -- "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --no-sync -E UTF8 --locale=C
  mv "$DATA" "$DATA.$mode"
done
c_same initdb
C_TOTAL_BASIS=seen c_profile initdb

bench() {  # MODE SECS
  local mode=$1 port
  port=$(free_port)
  mv "$DATA.$mode" "$DATA"
  c_start "$mode" postgres 180 -- "$PGBIN/postgres" -D "$DATA" -k "$DATA" -h 127.0.0.1 -p "$port" -c fsync=off
  C_CLEANUP+=("runuser -u $PGUSER -- $PGBIN/pg_ctl -D $DATA stop -m immediate")
  if ! wait_port "$port" 30; then fail "postgres ($mode): server listens"; c_why postgres "$mode"; return 1; fi
  sleep 1
  local pg=(-h 127.0.0.1 -p "$port" -U postgres)
  {
    timeout -k 5 120 "$PGBIN/pgbench" "${pg[@]}" -i -s 2 -q postgres > "$WORK/pgbench-i.$mode" 2>&1
    echo "pgbench -i status $?"
    timeout -k 5 120 "$PGBIN/pgbench" "${pg[@]}" -T "$2" -c 4 -j 2 postgres > "$WORK/pgbench.$mode" 2>&1
    echo "pgbench status $?"
    grep -a 'number of failed transactions' "$WORK/pgbench.$mode"
    timeout -k 5 60 "$PGBIN/psql" "${pg[@]}" -Atc \
      "select count(*), sum(bid) from pgbench_accounts; select count(*) from pgbench_branches" postgres
    # Fast shutdown: the postmaster ends every backend and exits 0.
    kill -INT "$(head -1 "$DATA/postmaster.pid")"
  } > "$WORK/client.$mode" 2>&1
  c_wait "$mode" postgres
  grep -a '^tps' "$WORK/pgbench.$mode" | sed "s/^/    $mode: /"
  mv "$DATA" "$DATA.$mode"
}
bench bare 3
bench agent 10
check "postgres: pgbench and psql see the same results (bare vs agent)" cmp -s "$WORK/client.bare" "$WORK/client.agent"
diff "$WORK/client.bare" "$WORK/client.agent" | head -5 | sed 's/^/    /'
check "postgres: pgbench succeeded without failed transactions" \
  grep -q '^number of failed transactions: 0 ' "$WORK/client.agent"
check "postgres: server exit status the same (bare $(c_rc postgres bare), agent $(c_rc postgres agent))" \
  [ "$(c_rc postgres bare)" = "$(c_rc postgres agent)" ]
check "postgres: bare server exits 0 (suite sanity)" [ "$(c_rc postgres bare)" = 0 ]
c_profile postgres
finish

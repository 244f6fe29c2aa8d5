# nginx as root (master + 2 workers running as nobody) on 127.0.0.1 serving
# a file to a bounded curl loop; stopped by a graceful quit.
source "$(dirname "$0")/lib.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
chmod 0711 "$WORK"
# The master runs as root, its workers as nobody: both write profiles.
export C_PROF_MODE=1777
mkdir -p "$WORK/www" && chmod 0755 "$WORK/www"
# Compressible text, gzipped by nginx on every request: the workers' CPU.
python3 -c 'import random
random.seed(3)
w = ["".join(random.choice("abcdefghij") for _ in range(7)) for _ in range(3000)]
print("\n".join(" ".join(random.choice(w) for _ in range(12)) for _ in range(20000)))' > "$WORK/www/file.txt"
printf 'hello from nginx\n' > "$WORK/www/index.html"
chmod 0644 "$WORK/www/"*
want=$(for i in $(seq 1 10); do cat "$WORK/www/file.txt"; done | sha256sum)

serve() {  # MODE
  local mode=$1 port conf="$WORK/nginx.$1.conf"
  port=$(free_port)
  mkdir -p "$WORK/nginx.$mode.tmp"
  cat > "$conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
pid $WORK/nginx.$mode.pid;
error_log $WORK/nginx.$mode.error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx.$mode.tmp/body;
  proxy_temp_path $WORK/nginx.$mode.tmp/proxy;
  fastcgi_temp_path $WORK/nginx.$mode.tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx.$mode.tmp/uwsgi;
  scgi_temp_path $WORK/nginx.$mode.tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $WORK/www;
    gzip on;
    gzip_types text/plain;
    gzip_comp_level 1;
  }
}
CONF
  c_start "$mode" nginx 120 -- "$NGINX" -c "$conf" -g 'error_log stderr;'
  C_CLEANUP+=("$NGINX -c $conf -s stop")
  if ! wait_port "$port" 20; then fail "nginx ($mode): server listens"; c_why nginx "$mode"; return 1; fi
  local i urls=()
  for i in $(seq 1 10); do urls+=("http://127.0.0.1:$port/file.txt"); done
  {
    for i in $(seq 1 8); do
      timeout -k 5 60 curl -sS --fail --compressed "${urls[@]}" | sha256sum | sed "s/^/round $i /"
    done
    timeout -k 5 10 curl -sS --fail "http://127.0.0.1:$port/index.html"
    timeout -k 5 10 curl -sS -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/missing"
  } > "$WORK/client.$mode" 2>&1
  # Graceful quit: the master waits for its workers, then exits 0.
  kill -QUIT "$(cat "$WORK/nginx.$mode.pid")"
  c_wait "$mode" nginx
}
serve bare
serve agent
check "nginx: the bare run serves the file (suite sanity)" grep -qxF "round 8 $want" "$WORK/client.bare"
check "nginx: curl gets the same bodies and statuses (bare vs agent)" cmp -s "$WORK/client.bare" "$WORK/client.agent"
diff "$WORK/client.bare" "$WORK/client.agent" | head -5 | sed 's/^/    /'
check "nginx: server exit status the same (bare $(c_rc nginx bare), agent $(c_rc nginx agent))" \
  [ "$(c_rc nginx bare)" = "$(c_rc nginx agent)" ]
check "nginx: bare server exits 0 (suite sanity)" [ "$(c_rc nginx bare)" = 0 ]
c_profile nginx
finish

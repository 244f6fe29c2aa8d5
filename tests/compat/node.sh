# node (V8: JIT code, its own worker threads, a libuv thread pool).
source "$(dirname "$0")/lib.sh"
cat > "$WORK/work.js" <<'JS'
const crypto = require('crypto');
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
let h = crypto.createHash('sha256');
for (let i = 0; i < 400000; i++) h.update('block ' + i);
const words = [];
for (let i = 0; i < 300000; i++) words.push(((i * 7919) % 100003).toString(36));
words.sort();
// libuv's thread pool: pbkdf2 runs off the main thread.
crypto.pbkdf2('secret', 'salt', 600000, 32, 'sha256', (err, key) => {
  console.log(fib(32), h.digest('hex').slice(0, 16), words[12345], key.toString('hex').slice(0, 16));
});
JS
c_run bare node 120 -- node "$WORK/work.js"
c_run agent node 120 -- node "$WORK/work.js"
c_same node
c_profile node
finish

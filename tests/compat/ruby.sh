# ruby (its interpreter, a GC, and a timer thread).
source "$(dirname "$0")/lib.sh"
cat > "$WORK/work.rb" <<'RB'
require 'digest'
def fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)
words = (0...200_000).map { |i| ((i * 7919) % 100_003).to_s(36) }.sort
d = Digest::SHA256.new
100_000.times { |i| d << "block #{i}" }
h = Hash.new(0)
words.each { |w| h[w[0]] += 1 }
t = Thread.new { (1..2_000_000).reduce(0) { |a, x| a ^ (x * x) } }
puts fib(25), d.hexdigest[0, 16], words[12_345], h.size, t.value
RB
c_run bare ruby 120 -- ruby "$WORK/work.rb"
c_run agent ruby 120 -- ruby "$WORK/work.rb"
c_same ruby
c_profile ruby
finish

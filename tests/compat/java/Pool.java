// A fixed thread pool of four workers hashing blocks, for the compatibility
// suite: JIT-compiled code, the JVM's own threads (compiler, GC) and a
// pool whose threads are created by the JVM with their own names.
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class Pool {
    static long work(long seed, int rounds) {
        long x = seed;
        long[] buf = new long[4096];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < buf.length; i++) {
                x ^= x << 13; x ^= x >>> 7; x ^= x << 17;
                buf[i] = x;
            }
            java.util.Arrays.sort(buf);
            x += buf[r % buf.length];
        }
        return x;
    }

    public static void main(String[] args) throws Exception {
        int tasks = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<Long>> results = new ArrayList<>();
        for (int t = 0; t < tasks; t++) {
            final long seed = t + 1;
            results.add(pool.submit(() -> work(seed, rounds)));
        }
        long sum = 0;
        for (Future<Long> f : results) sum += f.get();
        pool.shutdown();
        System.out.println("tasks " + tasks + " sum " + Long.toHexString(sum));
    }
}

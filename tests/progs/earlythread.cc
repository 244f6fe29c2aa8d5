// Preloaded after the agent by tests/preload/lifecycle.sh: its constructor
// runs before the agent's and starts a thread that works for 1.5 s of CPU,
// so the agent finds a thread it did not create (no exit hook of its own).
#include <pthread.h>
#include <time.h>

static volatile unsigned long sink;

static double thread_cpu()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *early_work(void *)
{
    double end = thread_cpu() + 1.5;
    while (thread_cpu() < end)
        for (int i = 0; i < 5000; i++)
            sink = sink * 6364136223846793005UL + 1;
    return nullptr;
}

__attribute__((constructor)) static void init()
{
    pthread_t th;
    if (pthread_create(&th, nullptr, early_work, nullptr) == 0)
        pthread_detach(th);
}

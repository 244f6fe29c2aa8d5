// Preloaded after the agent by tests/preload/lifecycle.sh, so that its
// fork child handler runs before the agent's: in a child forked while
// LC_WAIT_PARENT is set, it waits until the parent has exited (the
// daemon case, made certain instead of a race).
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pid_t forking;

static void prepare() { forking = getpid(); }

static void child()
{
    if (!getenv("LC_WAIT_PARENT"))
        return;
    for (int i = 0; i < 3000 && getppid() == forking; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, nullptr);
    }
}

__attribute__((constructor)) static void init() { pthread_atfork(prepare, nullptr, child); }

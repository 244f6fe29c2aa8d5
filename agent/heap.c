/* TEMPORARY STUB (lead): replaced by the heap-profiling work. */
#include "heap.h"
void otp_heap_init(void) {}
const otp_profile_t *otp_heap_collect(int64_t start_ns, int64_t end_ns, bool final)
{
    (void)start_ns; (void)end_ns; (void)final;
    return NULL;
}
void otp_heap_atfork_child(void) {}

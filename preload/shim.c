/*
 * The engine's loader (agent/engine.h): reads the configuration and, only
 * when it enables the agent, loads libotprof_engine.so from the directory
 * this object was loaded from and starts it.
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "eng.h"
#include "internal.h"
#include "log.h"
#include "next.h"
#include "otprof.h"

#define ENGINE_NAME "libotprof_engine.so"

const otp_engine_t *otp_eng OTP_STARTUP_DATA;
bool otp_eng_none OTP_STARTUP_DATA;
bool otp_eng_second;

/* The object holding code, as an otp_agent_code range. */
static void note_code(void *code, otp_code_range_t *r)
{
    struct dl_find_object fo;
    if (_dl_find_object(code, &fo) == 0) {
        r->lo = (uintptr_t)fo.dlfo_map_start;
        r->hi = (uintptr_t)fo.dlfo_map_end;
    }
}

/* Loads and checks the engine; NULL with a reason in why. */
static const otp_engine_t *load(char *why, size_t cap)
{
    Dl_info self;
    if (!dladdr((const void *)&otp_shim_start, &self) || !self.dli_fname) {
        strncpy(why, "cannot tell where the agent was loaded from", cap - 1);
        return NULL;
    }
    char path[4096];
    const char *slash = strrchr(self.dli_fname, '/');
    size_t d = slash ? (size_t)(slash - self.dli_fname) + 1 : 0;
    if (d + sizeof ENGINE_NAME > sizeof path) {
        strncpy(why, "the agent's directory name is too long", cap - 1);
        return NULL;
    }
    memcpy(path, self.dli_fname, d);
    memcpy(path + d, ENGINE_NAME, sizeof ENGINE_NAME);
    /* The loader's own allocations pass through the wrappers, to the pool. */
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_preload_pool_only(true);
    const otp_engine_t *e = NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        strncpy(why, err ? err : path, cap - 1);
    } else {
        const otp_engine_t *(*entry)(void) = (const otp_engine_t *(*)(void))dlsym(h, OTP_ENGINE_ENTRY);
        e = entry ? entry() : NULL;
        if (!e || !e->abi_tag || strcmp(e->abi_tag, OTP_ABI_TAG) != 0) {
            strncpy(why, "libotprof_engine.so is from another build of otprof", cap - 1);
            e = NULL;
            dlclose(h);
        } else {
            note_code((void *)(uintptr_t)entry, &otp_agent_code[1]);
        }
    }
    otp_preload_pool_only(false);
    otp_tls_in_agent = saved;
    return e;
}

void otp_shim_start(void)
{
    /* A second copy of the agent in LD_PRELOAD (an installed one and a
     * build's, a global setting and `otprof run`). Started too, its engine
     * ran on the first one's shared state (those symbols bind to the first
     * copy) and took the first one's SIGPROF handler for the app's:
     * multi-threaded apps died of SIGPROF (`sort -rn`, status 155). It
     * stays off, touching nothing shared; its wrappers, which the first
     * copy calls as the next definitions, pass through. */
    if (!otp_api_ours()) {
        Dl_info first;
        const char *(*v)(void) = otprof_version;
        OTP_WARN("another otprof agent (%s) is loaded ahead of this one; this one stays off (keep one in "
                 "LD_PRELOAD: the first one's heap profile is wrong while both are there)",
                 dladdr((const void *)(uintptr_t)v, &first) && first.dli_fname ? first.dli_fname : "?");
        otp_eng_none = otp_eng_second = true;
        return;
    }
    note_code((void *)(uintptr_t)&otp_shim_start, &otp_agent_code[0]);
    otp_config_load(&otp_cfg);
    if (otp_cfg.agent_enabled) {
        /* The engine wants to know the app's allocator from the start.
         * Disabled, the wrappers look the next one up at their first
         * call (eleven dlsym calls a process that never allocates,
         * /bin/true, does not pay). */
        otp_preload_resolve_allocator();
        char why[256] = "";
        const otp_engine_t *e = load(why, sizeof why);
        if (e) {
            /* Published first: the wrappers that run during the engine's
             * start (its own allocations, threads) find it starting, as
             * they would find it in one object. */
            __atomic_store_n(&otp_eng, e, __ATOMIC_RELEASE);
            otp_engine_start_t start = {otp_preload_app_malloc()};
            e->init(&start);
            return;
        }
        OTP_WARN("profiling off: %s", why);
    }
    otp_eng_none = true;
    otp_tls_heap_left = INT64_MAX;
}

void otp_shim_exit(void)
{
    const otp_engine_t *e = otp_eng;
    if (e)
        e->exit();
}

/*
 * The otprof command: runs a program under the agent (otprof run), shows
 * the settings the agent would use for a program and where each comes from
 * (otprof config), reads profiles (otprof top, flame, merge: their own
 * modules) and prints its version. It links the agent's own config
 * loader, so what it shows cannot drift from what the agent does.
 *
 * Usage errors are one "otprof: ..." line on stderr and exit status 2; a
 * command that cannot be run gives 127 (not found) or 126, as in the shell.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "flame.h"
#include "internal.h"
#include "merge_cmd.h"
#include "top.h"

#ifndef OTP_MULTIARCH
#define OTP_MULTIARCH "x86_64-linux-gnu"
#endif
#define OTP_AGENT_NAME "libotprof_agent.so"

static const char otp_usage[] =
    "usage: otprof run [VAR=VALUE ...] [--] command [args ...]\n"
    "       otprof config [VAR=VALUE ...] [--] [command]\n"
    "       otprof top [-n N] [--sample TYPE] [--lines] FILE...\n"
    "       otprof flame [--sample TYPE] FILE... > flame.svg\n"
    "       otprof merge -o OUT FILE...\n"
    "       otprof --version\n"
    "       otprof --help | otprof help [run|config|top|flame|merge]\n"
    "\n"
    "  run      run a command with the otprof agent preloaded\n"
    "  config   print the settings the agent would use, and where each comes from\n"
    "  top      print the hottest functions of pprof profiles\n"
    "  flame    write an interactive SVG flame graph of pprof profiles\n"
    "  merge    write one profile from the interval files of one run\n"
    "\n"
    "See otprof(1) for every setting.\n";

static const char otp_usage_run[] =
    "usage: otprof run [VAR=VALUE ...] [--] command [args ...]\n"
    "\n"
    "Runs command with the otprof agent preloaded (its absolute path is put\n"
    "first in LD_PRELOAD, ahead of anything already there), with each\n"
    "VAR=VALUE set in its environment, e.g.\n"
    "  otprof run OTPROF_CPU_FREQUENCY_HZ=250 OTEL_SERVICE_NAME=api -- ./app --port 80\n"
    "The agent is looked for beside this command, in ../lib and in\n"
    "../lib/" OTP_MULTIARCH "; OTPROF_AGENT_PATH names another file.\n"
    "The exit status is the command's own. A statically linked or setuid\n"
    "command runs unprofiled (the loader does not preload into it): said once.\n";

static const char otp_usage_config[] =
    "usage: otprof config [VAR=VALUE ...] [--] [command]\n"
    "\n"
    "Prints every setting the agent would use for command (found in PATH like\n"
    "the shell does), as an INI file with the origin of each value after ';':\n"
    "  default            the built-in default\n"
    "  system file        /etc/otprof.ini (OTPROF_SYSTEM_CONFIG names another)\n"
    "  file               otprof.ini beside command's executable, or OTPROF_CONFIG's file\n"
    "  environment        an OTPROF_<SECTION>_<KEY> variable\n"
    "  OTEL environment   a standard OTEL_* variable\n"
    "Each VAR=VALUE is set first, as otprof run would. Without a command there\n"
    "is no file beside an executable. Header values and a URL's user:password\n"
    "are shown as <redacted>. Problems in the settings are printed on stderr,\n"
    "as the agent prints them.\n";

static int otp_bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int otp_bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("otprof: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("; see 'otprof --help'\n", stderr);
    va_end(ap);
    return 2;
}

static bool otp_is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* VAR=VALUE with VAR a shell variable name. */
static bool otp_is_assignment(const char *a)
{
    const char *eq = strchr(a, '=');
    if (!eq || eq == a || (a[0] >= '0' && a[0] <= '9'))
        return false;
    for (const char *p = a; p < eq; p++)
        if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Shared by run and config: VAR=VALUE... [--] [command...]. Sets the
 * variables, returns the index of the command (argc if none), -1 after
 * printing help, -2 after a usage error. */
static int otp_parse_common(int argc, char **argv, const char *sub, const char *help)
{
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (otp_is_help(a)) {
            fputs(help, stdout);
            return -1;
        }
        if (a[0] == '-') {
            fprintf(stderr, "otprof: %s: unknown option '%s'; see 'otprof %s --help'\n", sub, a,
                    sub);
            return -2;
        }
        if (!otp_is_assignment(a))
            return i;
        char *eq = strchr(a, '=');
        *eq = '\0';
        int rc = setenv(a, eq + 1, 1);
        *eq = '=';
        if (rc != 0) {
            fprintf(stderr, "otprof: %s: cannot set '%s': %s\n", sub, a, strerror(errno));
            return -2;
        }
    }
    return i;
}

static bool otp_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The agent: OTPROF_AGENT_PATH, else beside this command or in the lib
 * directories of its prefix (the build tree, make install, the package). */
static bool otp_find_agent(char *out, size_t cap)
{
    const char *env = getenv("OTPROF_AGENT_PATH");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return otp_is_file(out);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    static const char *const rel[] = { "", "/../lib", "/../lib/" OTP_MULTIARCH };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof cand, "%s%s/" OTP_AGENT_NAME, self, rel[i]);
        if (otp_is_file(cand) && realpath(cand, out))
            return true;
    }
    snprintf(out, cap, "%s", OTP_AGENT_NAME);
    return false;
}

static void otp_say_unprofiled(const char *cmd);

static int otp_cmd_run(int argc, char **argv)
{
    int c = otp_parse_common(argc, argv, "run", otp_usage_run);
    if (c < 0)
        return c == -1 ? 0 : 2;
    if (c >= argc) {
        fputs("otprof: run: no command given; usage: otprof run [VAR=VALUE ...] -- command "
              "[args ...]\n", stderr);
        return 2;
    }
    char agent[PATH_MAX];
    if (!otp_find_agent(agent, sizeof agent)) {
        fprintf(stderr, "otprof: run: %s not found; set OTPROF_AGENT_PATH\n", agent);
        return 127;
    }
    const char *old = getenv("LD_PRELOAD");
    char *pre = malloc(strlen(agent) + (old ? strlen(old) : 0) + 2);
    if (!pre) {
        fputs("otprof: run: out of memory\n", stderr);
        return 126;
    }
    sprintf(pre, "%s%s%s", agent, old && *old ? " " : "", old && *old ? old : "");
    if (setenv("LD_PRELOAD", pre, 1) != 0) {
        fprintf(stderr, "otprof: run: cannot set LD_PRELOAD: %s\n", strerror(errno));
        return 126;
    }
    otp_say_unprofiled(argv[c]);
    execvp(argv[c], argv + c);
    int err = errno;
    fprintf(stderr, "otprof: run: %s: %s\n", argv[c], strerror(err));
    return err == ENOENT ? 127 : 126;
}

/* command as the shell would find it, then with symlinks resolved: the
 * agent sees /proc/self/exe, which is the real file. */
static bool otp_resolve(const char *cmd, char *out)
{
    if (strchr(cmd, '/'))
        return realpath(cmd, out) && otp_is_file(out);
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char cand[PATH_MAX + NAME_MAX + 2];
        snprintf(cand, sizeof cand, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
        if (access(cand, X_OK) == 0 && otp_is_file(cand) && realpath(cand, out))
            return true;
        if (!e)
            return false;
        p = e + 1;
    }
}

/* What AT_SECURE would be for the command run by this user: setuid or
 * setgid to someone else, or file capabilities. */
static const char *otp_secure_reason(const char *exe)
{
    struct stat st;
    if (stat(exe, &st) != 0)
        return NULL;
    if ((st.st_mode & S_ISUID) && st.st_uid != geteuid())
        return "setuid";
    if ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP) && st.st_gid != getegid())
        return "setgid";
    if (getxattr(exe, "security.capability", NULL, 0) > 0)
        return "file capabilities";
    return NULL;
}

/* What the kernel runs exe as: 'd' an ELF executable the dynamic loader
 * runs (which is what loads the agent), 's' a statically linked one (no
 * PT_INTERP), 0 anything else (a script: its interpreter is run). */
static char otp_elf_kind(const char *exe)
{
    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    char kind = 0;
    if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof ph[0] && eh.e_phnum > 0 &&
        eh.e_phnum <= 64 &&
        pread(fd, ph, eh.e_phnum * sizeof ph[0], (off_t)eh.e_phoff) == (ssize_t)(eh.e_phnum * sizeof ph[0])) {
        kind = 's';
        for (int i = 0; i < eh.e_phnum; i++)
            if (ph[i].p_type == PT_INTERP)
                kind = 'd';
    }
    close(fd);
    return kind;
}

/* Commands the agent cannot get into run as they are, with no profile
 * and nothing from the agent to say why: said here, once. */
static void otp_say_unprofiled(const char *cmd)
{
    static char exe[PATH_MAX];
    if (!otp_resolve(cmd, exe))
        return;
    char kind = otp_elf_kind(exe);
    const char *secure = kind == 'd' ? otp_secure_reason(exe) : NULL;
    if (kind == 's')
        fprintf(stderr, "otprof: run: %s is statically linked: the agent cannot be loaded into it, "
                "so it runs unprofiled\n", cmd);
    else if (secure)
        fprintf(stderr, "otprof: run: %s is %s: the loader does not preload the agent into it "
                "(secure execution), so it runs unprofiled\n", cmd, secure);
}

static int otp_cmd_config(int argc, char **argv)
{
    int c = otp_parse_common(argc, argv, "config", otp_usage_config);
    if (c < 0)
        return c == -1 ? 0 : 2;
    if (c + 1 < argc) {
        fprintf(stderr, "otprof: config: one command expected, not its arguments ('%s'); "
                "see 'otprof config --help'\n", argv[c + 1]);
        return 2;
    }
    static char exe[PATH_MAX];
    const char *target = NULL, *secure = NULL;
    if (c < argc) {
        if (!otp_resolve(argv[c], exe)) {
            fprintf(stderr, "otprof: config: %s: command not found\n", argv[c]);
            return 127;
        }
        target = exe;
        secure = otp_secure_reason(exe);
    }
    const char *sys = secure ? NULL : getenv("OTPROF_SYSTEM_CONFIG");
    if (!sys || !*sys)
        sys = OTP_SYSTEM_CONFIG;

    /* Problems go to stderr as the agent would print them; stdout is the
     * settings alone. */
    static otp_config_t cfg;
    otp_config_load_for(&cfg, secure != NULL, sys, target ? target : "");

    printf("; otprof %s settings for %s\n", OTP_VERSION, target ? target : "any program");
    if (secure)
        printf("; %s: secure execution, only a root-owned %s with enabled = true counts\n",
               secure, sys);
    static otp_config_item_t it;
    const char *section = "";
    for (size_t i = 0; otp_config_item(&cfg, i, &it); i++) {
        if (strcmp(section, it.section) != 0) {
            printf("\n[%s]\n", it.section);
            section = it.section;
        }
        const char *value = it.value;
        if (!target && it.source == OTP_CONFIG_DEFAULT && strcmp(it.section, "agent") == 0 &&
            strcmp(it.key, "service_name") == 0)
            value = ""; /* the executable's name, which there is none of */
        char line[sizeof it.value + 128];
        snprintf(line, sizeof line, "%s = %s", it.key, value);
        printf("%-40s ; %s%s%s\n", line, it.source_name, it.origin[0] ? ": " : "", it.origin);
    }
    return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return otp_bad_usage("no command given");
    const char *cmd = argv[1];
    if (otp_is_help(cmd)) {
        fputs(otp_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("otprof %s\n", OTP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2)
            fputs(otp_usage, stdout);
        else if (strcmp(argv[2], "run") == 0)
            fputs(otp_usage_run, stdout);
        else if (strcmp(argv[2], "config") == 0)
            fputs(otp_usage_config, stdout);
        else if (strcmp(argv[2], "top") == 0)
            fputs(otp_usage_top, stdout);
        else if (strcmp(argv[2], "flame") == 0)
            fputs(otp_usage_flame, stdout);
        else if (strcmp(argv[2], "merge") == 0)
            fputs(otp_usage_merge, stdout);
        else
            return otp_bad_usage("help: unknown command '%s'", argv[2]);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return otp_cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "config") == 0)
        return otp_cmd_config(argc - 2, argv + 2);
    if (strcmp(cmd, "top") == 0)
        return otp_cmd_top(argc - 2, argv + 2);
    if (strcmp(cmd, "flame") == 0)
        return otp_cmd_flame(argc - 2, argv + 2);
    if (strcmp(cmd, "merge") == 0)
        return otp_cmd_merge(argc - 2, argv + 2);
    if (cmd[0] == '-')
        return otp_bad_usage("unknown option '%s'", cmd);
    return otp_bad_usage("unknown command '%s'", cmd);
}

#include "stop_signals.h"
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct {
    const char *name;
    int signo;
} KNOWN[] = {
    {"TERM", SIGTERM}, {"INT", SIGINT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"XCPU", SIGXCPU},
};
enum { N_KNOWN = sizeof KNOWN / sizeof KNOWN[0] };

/* Written only by the watcher thread, read by the training loop: the
 * first stop signal, and how many SIGINTs came. */
static _Atomic int first_caught = 0;
static int interrupts = 0;

/* Every signal --stop-signals can name, as a set. */
static sigset_t known_set(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < N_KNOWN; i++) sigaddset(&set, KNOWN[i].signo);
    return set;
}

static int signal_by_name(const char *name, size_t len)
{
    if (len > 3 && !strncasecmp(name, "SIG", 3)) name += 3, len -= 3;
    for (int i = 0; i < N_KNOWN; i++)
        if (strlen(KNOWN[i].name) == len && !strncasecmp(name, KNOWN[i].name, len)) return KNOWN[i].signo;
    return 0;
}

int stop_signals_parse(const char *text, StopSignals *set, char *err, int err_size)
{
    memset(set, 0, sizeof *set);
    if (!strcasecmp(text, "none")) return 0;
    for (const char *p = text;; p++) {
        size_t len = strcspn(p, ",");
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        int signo = len ? signal_by_name(p, len) : 0;
        if (!signo) {
            snprintf(err, err_size, "--stop-signals: expected a comma-separated list of TERM, INT, USR1, USR2, HUP, "
                     "QUIT, XCPU (or none), got '%.200s'", text);
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < set->count; i++) seen |= set->signo[i] == signo;
        if (!seen) set->signo[set->count++] = signo;   /* at most N_KNOWN distinct: fits */
        p += strcspn(p, ",");
        if (!*p) return 0;
    }
}

void stop_signals_hold(void)
{
    sigset_t set = known_set();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The watcher: takes the stop signals one by one as they arrive (they are
 * blocked in every thread, so they stay pending until sigwait takes them). */
static void *watch_stop_signals(void *arg)
{
    const sigset_t *set = arg;
    for (;;) {
        int signo;
        if (sigwait(set, &signo) != 0) continue;
        /* Ctrl-C twice: the user does not want to wait for the checkpoint. */
        if (signo == SIGINT && interrupts++ > 0) _exit(130);
        int none = 0;
        atomic_compare_exchange_strong(&first_caught, &none, signo);
    }
    return NULL;
}

void stop_signals_install(const StopSignals *set)
{
    static sigset_t watched;
    static int watching = 0;
    if (watching) return;
    sigset_t rest = known_set();
    sigemptyset(&watched);
    for (int i = 0; i < set->count; i++) {
        sigaddset(&watched, set->signo[i]);
        sigdelset(&rest, set->signo[i]);
    }
    /* The others keep their default action (and the stop signals too, if
     * the watcher cannot start: better killed than deaf). */
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = set->count > 0 && pthread_create(&thread, &attr, watch_stop_signals, &watched) == 0;
    pthread_attr_destroy(&attr);
    sigset_t unblock = started ? rest : known_set();
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    watching = started;
}

int stop_signal_caught(void) { return atomic_load(&first_caught); }

const char *stop_signal_name(int signo)
{
    static char buf[32];
    for (int i = 0; i < N_KNOWN; i++)
        if (KNOWN[i].signo == signo) {
            snprintf(buf, sizeof buf, "SIG%s", KNOWN[i].name);
            return buf;
        }
    snprintf(buf, sizeof buf, "signal %d", signo);
    return buf;
}

int stop_signals_take_flag(int argc, char **argv, int *i, StopSignals *set, char *err, int err_size)
{
    static const char flag[] = "--stop-signals";
    const char *arg = argv[*i], *value;
    size_t n = sizeof flag - 1;
    if (strncmp(arg, flag, n) || (arg[n] && arg[n] != '=')) return 0;
    if (arg[n] == '=') value = arg + n + 1;
    else if (*i + 1 < argc) value = argv[++*i];
    else {
        snprintf(err, err_size, "--stop-signals: expected a list of signals after it (e.g. TERM,INT,USR1)");
        return -1;
    }
    return stop_signals_parse(value, set, err, err_size) ? -1 : 1;
}

#include "stop_signals.h"
#include <ctype.h>
#include <signal.h>
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

/* Written only by the handler (and read by the loop): the first stop
 * signal, and how many SIGINTs came. */
static volatile sig_atomic_t first_caught = 0;
static volatile sig_atomic_t interrupts = 0;

static void on_stop_signal(int signo)
{
    /* Ctrl-C twice: the user does not want to wait for the checkpoint. */
    if (signo == SIGINT && interrupts++ > 0) _exit(130);
    if (!first_caught) first_caught = signo;
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

void stop_signals_install(const StopSignals *set)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    /* One handler at a time: the counters are never updated concurrently. */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < set->count; i++) sigaddset(&sa.sa_mask, set->signo[i]);
    for (int i = 0; i < set->count; i++) sigaction(set->signo[i], &sa, NULL);
}

int stop_signal_caught(void) { return first_caught; }

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

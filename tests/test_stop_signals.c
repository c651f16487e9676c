/* Stop signals (runner/cli/stop_signals.c): held in every thread, taken by
 * the watcher thread, never handled on a computing thread. Each case runs
 * in a child process of its own, since the signal mask and the watcher
 * are per process; the child reports the first check that failed as its
 * exit code. */
#include "testutil.h"
#include "stop_signals.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The calling thread blocks signo. */
static int blocked_here(int signo)
{
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, signo) == 1;
}

static void *report_mask(void *out)
{
    *(int *)out = blocked_here(SIGUSR1) && blocked_here(SIGTERM);
    return NULL;
}

/* Until stop_signal_caught() is nonzero, at most 2 s; its value. */
static int wait_caught(void)
{
    for (int i = 0; i < 200 && !stop_signal_caught(); i++) nanosleep(&(struct timespec){0, 10000000}, NULL);
    return stop_signal_caught();
}

/* The child's exit status (or 128 + the signal that ended it). */
static int run_child(int (*body)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(body());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* held: a thread started after stop_signals_hold blocks them too; after
 * install(USR1, TERM), USR1 reaches the watcher (the first one counts),
 * the main thread still blocks it, and USR2 (held, not chosen) has its
 * default action back. */
static int watcher_takes_the_signals(void)
{
    stop_signals_hold();
    pthread_t th;
    int inherited = 0;
    pthread_create(&th, NULL, report_mask, &inherited);
    pthread_join(th, NULL);
    if (!inherited) return 10;
    StopSignals set;
    char err[256];
    if (stop_signals_parse("usr1,SIGTERM", &set, err, sizeof err)) return 11;
    stop_signals_install(&set);
    if (stop_signal_caught() != 0) return 12;
    if (!blocked_here(SIGUSR1) || !blocked_here(SIGTERM)) return 13;
    if (blocked_here(SIGUSR2) || blocked_here(SIGHUP)) return 14;
    kill(getpid(), SIGUSR1);
    if (wait_caught() != SIGUSR1) return 15;
    kill(getpid(), SIGTERM);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    if (stop_signal_caught() != SIGUSR1) return 16;   /* the first one stays */
    return 0;
}

static void test_watcher_takes_the_signals(void **state)
{
    (void)state;
    assert_int_equal(run_child(watcher_takes_the_signals), 0);
}

/* A second SIGINT ends the process with 130 at once. */
static int second_sigint_exits(void)
{
    stop_signals_hold();
    StopSignals set;
    char err[256];
    if (stop_signals_parse("INT", &set, err, sizeof err)) return 11;
    stop_signals_install(&set);
    kill(getpid(), SIGINT);
    if (wait_caught() != SIGINT) return 15;
    kill(getpid(), SIGINT);
    sleep(5);
    return 20;   /* still alive: wrong */
}

static void test_second_sigint_exits_130(void **state)
{
    (void)state;
    assert_int_equal(run_child(second_sigint_exits), 130);
}

/* --stop-signals none: nothing held any more, SIGUSR1 kills. */
static int none_gives_defaults_back(void)
{
    stop_signals_hold();
    StopSignals none = {0};
    stop_signals_install(&none);
    if (blocked_here(SIGUSR1) || blocked_here(SIGINT) || blocked_here(SIGTERM)) return 13;
    kill(getpid(), SIGUSR1);
    sleep(5);
    return 20;
}

static void test_none_gives_defaults_back(void **state)
{
    (void)state;
    assert_int_equal(run_child(none_gives_defaults_back), 128 + SIGUSR1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watcher_takes_the_signals),
        cmocka_unit_test(test_second_sigint_exits_130),
        cmocka_unit_test(test_none_gives_defaults_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

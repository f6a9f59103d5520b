/*
 * bunker-health: a running container's periodic health check. There is no
 * daemon, and a detached container's supervisor is the waiter by then, so
 * this small static program (exec'd from a memory file, kilobytes) keeps the
 * time and runs `bunker healthcheck run ID`, which runs the check and records
 * its result.
 *
 *   bunker-health PPID PIDFD EXEFD ID INTERVAL_MS START_PERIOD_MS START_INTERVAL_MS
 *
 * PPID is the process that started it (the container's supervisor, or the
 * foreground bunker): this one dies with it (PR_SET_PDEATHSIG), and exits at
 * once if it is already gone. PIDFD is a pidfd of the container's first
 * process: its end ends this program, and the check it is running. EXEFD is
 * bunker's own executable (O_PATH), run with execveat. It sleeps
 * START_INTERVAL_MS between checks while the start period lasts and no check
 * has passed yet (docker's --health-start-interval), INTERVAL_MS otherwise;
 * the first check comes one such wait after the start.
 *
 * No libc: raw system calls through nolibc.h, for x86_64 and aarch64.
 */

#include "nolibc.h"

#if defined(__x86_64__)
#define NR_GETPPID 110
#elif defined(__aarch64__)
#define NR_GETPPID 173
#endif

#define PR_SET_PDEATHSIG_ 1
#define SIGKILL_ 9
#define CLOCK_MONOTONIC_ 1
#define POLLIN_ 1

struct pollfd_ {
  int fd;
  short events;
  short revents;
};

static long now_ms(void) {
  long ts[2] = {0, 0};
  sys6(NR_CLOCK_GETTIME, CLOCK_MONOTONIC_, (long)ts, 0, 0, 0, 0);
  return ts[0] * 1000 + ts[1] / 1000000;
}

/*
 * Waits until `deadline_ms` (monotonic; -1: for ever) for the container to
 * end or, with `childfd` >= 0, for that child to end. 1 when the container
 * ended, 0 otherwise.
 */
static int wait_until(long pidfd, long childfd, long deadline_ms) {
  for (;;) {
    struct pollfd_ fds[2] = {{(int)pidfd, POLLIN_, 0}, {(int)childfd, POLLIN_, 0}};
    long left = deadline_ms < 0 ? 0 : deadline_ms - now_ms();
    if (deadline_ms >= 0 && left <= 0) return 0;
    long ts[2] = {left / 1000, (left % 1000) * 1000000L};
    long n = sys6(NR_PPOLL, (long)fds, childfd >= 0 ? 2 : 1, deadline_ms < 0 ? 0 : (long)ts, 0, 0, 0);
    if (n == -EINTR_) continue;
    /* A pidfd that cannot be polled says nothing more: stop, rather than spin. */
    if (n < 0 || fds[0].revents) return 1;
    if (childfd >= 0 && fds[1].revents) return 0;
  }
}

/* Runs `bunker healthcheck run ID` and waits for it; its exit code, or -1 if the container ended first. */
static long run_check(long pidfd, long exefd, char *id, char **envp) {
  char *args[] = {"bunker", "healthcheck", "run", id, 0};
  long child = sys6(NR_CLONE, SIGCHLD_, 0, 0, 0, 0, 0);
  if (child == 0) {
    /* It goes with this program; the check it runs in the container goes with it. */
    sys6(NR_PRCTL, PR_SET_PDEATHSIG_, SIGKILL_, 0, 0, 0, 0);
    sys6(NR_CLOSE, pidfd, 0, 0, 0, 0, 0);
    exec_fd(exefd, args, envp);
    leave(127);
  }
  if (child < 0) return 125;
  long childfd = sys6(NR_PIDFD_OPEN, child, 0, 0, 0, 0, 0);
  /* Without a pidfd for it, the check's own time limit bounds the wait. */
  int ended = childfd >= 0 ? wait_until(pidfd, childfd, -1) : 0;
  if (childfd >= 0) sys6(NR_CLOSE, childfd, 0, 0, 0, 0, 0);
  if (ended) sys6(NR_KILL, child, SIGKILL_, 0, 0, 0, 0);
  int status = 0;
  while (sys6(NR_WAIT4, child, (long)&status, WALL_, 0, 0, 0) == -EINTR_) {
  }
  return ended ? -1 : exit_code(status);
}

__attribute__((used)) void program_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (argc != 8) leave(2);
  long ppid = number(argv[1]);
  long pidfd = number(argv[2]);
  long exefd = number(argv[3]);
  long interval = number(argv[5]);
  long start_period = number(argv[6]);
  long start_interval = number(argv[7]);
  if (ppid <= 0 || pidfd < 0 || exefd < 0 || interval <= 0 || start_period < 0 || start_interval <= 0) leave(2);
  sys6(NR_PRCTL, PR_SET_PDEATHSIG_, SIGKILL_, 0, 0, 0, 0);
  /* Its parent may have died before the line above: then nobody is left to run checks for. */
  if (sys6(NR_GETPPID, 0, 0, 0, 0, 0, 0) != ppid) leave(0);
  sys6(NR_PRCTL, PR_SET_NAME_, (long)"bunker-health", 0, 0, 0, 0);
  /* Nothing else of its parent's stays open (the memory file it was exec'd from included). */
  for (long fd = 3; fd < 1024; fd++)
    if (fd != pidfd && fd != exefd) sys6(NR_CLOSE, fd, 0, 0, 0, 0, 0);

  long started = now_ms();
  int passed = 0;
  long next = started;
  for (;;) {
    int starting = !passed && now_ms() - started < start_period;
    next = now_ms() + (starting ? start_interval : interval);
    if (wait_until(pidfd, -1, next)) leave(0);
    long code = run_check(pidfd, exefd, argv[4], envp);
    if (code < 0) leave(0);
    if (code == 0) passed = 1;
  }
}

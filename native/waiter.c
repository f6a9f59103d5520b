/*
 * bunker-wait: what a detached container's supervisor becomes once the
 * container runs. The supervising bunker process execs this small static
 * program from a memory file, so it keeps its pid (the container stays its
 * child, and dies with it) and holds kilobytes instead of a whole Bun.
 *
 *   bunker-wait PID LOCKFD EXEFD ID [OUTFD ERRFD LOGDIRFD MAXKIB MAXFILES]
 *
 * With the five more, it writes the container's log while it waits: what
 * comes on OUTFD and ERRFD (the read ends of the container's stdout and
 * stderr) goes to LOGDIRFD's container.log (logfile.h), MAXKIB KiB a file (0:
 * no cap), MAXFILES files kept. It stops reading once PID has ended and the
 * pipes have nothing more to give.
 *
 * It reaps children until PID has ended (a network helper may be a child
 * too), closes what it kept open for the container and reaps the helpers that
 * end with that, takes the container's lock (LOCKFD, its state directory's lock file)
 * and hands the end over to `bunker __finish ID STATUS LOCKFD`, run from
 * EXEFD (bunker's own executable, opened before the exec) in a child that
 * inherits the lock: the cleanup and the record of the exit status happen
 * under the lock this process took, so no other bunker command can mistake
 * the container for one whose bunker was killed. Then it exits.
 *
 *   bunker-wait sleep MS EXEFD ID
 *
 * is a restart policy's back-off instead: `bunker __finish` recorded that the
 * container will be started again by this process, which sleeps MS
 * milliseconds holding nothing but EXEFD, then becomes `bunker __supervise ID
 * --restart`. `stop` and `rm` end the back-off by killing it.
 *
 * No libc: raw system calls through nolibc.h, for x86_64 and aarch64.
 */

#include "nolibc.h"
#include "logfile.h"

#define LOCK_EX_ 2
#define AT_EMPTY_PATH_ 0x1000

#define POLLIN_ 1
#define POLLHUP_ 0x10
#define POLLERR_ 8

struct pollfd_ {
  int fd;
  short events;
  short revents;
};

static struct log_file logf;
static struct log_stream streams[2];
static char chunk[65536];

/*
 * Writes the log until the container's first process has ended and both
 * pipes are done (at their end, or silent for a second after it): its exit
 * is seen on a pidfd (or, without one, by looking every 200 ms).
 */
static void write_log(long pid, long outfd, long errfd) {
  streams[0].name = "stdout";
  streams[1].name = "stderr";
  long pidfd = sys6(NR_PIDFD_OPEN, pid, 0, 0, 0, 0, 0);
  struct pollfd_ fds[3] = {{(int)outfd, POLLIN_, 0}, {(int)errfd, POLLIN_, 0}, {(int)(pidfd >= 0 ? pidfd : -1), POLLIN_, 0}};
  long ended = 0;
  for (;;) {
    if (fds[0].fd < 0 && fds[1].fd < 0) break;
    if (!ended && pidfd < 0) {
      /* WNOWAIT: seen, not reaped (the loop after this reaps it). si_pid, at 16, stays 0 while it runs. */
      int info[32] = {0};
      long r = sys6(NR_WAITID, 1 /* P_PID */, pid, (long)info, 4 /* WEXITED */ | 0x01000000 /* WNOWAIT */ | WNOHANG_, 0, 0);
      if (r == 0 && info[4] == pid) ended = 1;
    }
    long ts[2] = {ended ? 1 : 0, ended ? 0 : 200000000L};
    long n = sys6(NR_PPOLL, (long)fds, 3, (ended || pidfd < 0) ? (long)ts : 0, 0, 0, 0);
    if (n == -EINTR_) continue;
    if (n < 0) break;
    /* A second without a word after the container ended: a process that kept its output open is not waited for. */
    if (n == 0 && ended) break;
    if (fds[2].fd >= 0 && fds[2].revents) {
      ended = 1;
      fds[2].fd = -1;
    }
    log_now(&logf);
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN_ | POLLHUP_ | POLLERR_))) continue;
      long r = sys6(NR_READ, fds[i].fd, (long)chunk, sizeof chunk, 0, 0, 0);
      if (r == -EINTR_ || r == -EAGAIN_) continue;
      if (r <= 0) {
        /* Its end: an unfinished line goes as it is. */
        if (streams[i].len > 0) log_record(&logf, &streams[i]);
        sys6(NR_CLOSE, fds[i].fd, 0, 0, 0, 0, 0);
        fds[i].fd = -1;
        continue;
      }
      log_bytes(&logf, &streams[i], chunk, r);
    }
    log_flush(&logf);
  }
  for (int i = 0; i < 2; i++)
    if (streams[i].len > 0) log_record(&logf, &streams[i]);
  log_flush(&logf);
  if (pidfd >= 0) sys6(NR_CLOSE, pidfd, 0, 0, 0, 0, 0);
}

/* Runs bunker's own executable, EXEFD, with `args`; returns only if that fails. */
static void exec_bunker(long exefd, char **args, char **envp) {
  sys6(NR_EXECVEAT, exefd, (long)"", (long)args, (long)envp, AT_EMPTY_PATH_, 0);
  /* Where execveat is missing (an emulator's system call layer), the same file by its /proc link. */
  char path[40] = "/proc/self/fd/";
  char num[24];
  decimal(exefd, num);
  int i = 14;
  for (int j = 0; num[j] && i < 39; j++) path[i++] = num[j];
  path[i] = 0;
  sys6(NR_EXECVE, (long)path, (long)args, (long)envp, 0, 0, 0);
}

static void restart_after(char **argv, char **envp) {
  long ms = number(argv[2]);
  long exefd = number(argv[3]);
  if (ms < 0 || exefd < 0) leave(2);
  sys6(NR_PRCTL, PR_SET_NAME_, (long)"bunker-wait", 0, 0, 0, 0);
  for (long fd = 3; fd < 4096; fd++)
    if (fd != exefd) sys6(NR_CLOSE, fd, 0, 0, 0, 0, 0);
  long ts[2] = {ms / 1000, (ms % 1000) * 1000000L};
  while (sys6(NR_NANOSLEEP, (long)ts, (long)ts, 0, 0, 0, 0) == -EINTR_) {
  }
  char *args[] = {"bunker", "__supervise", argv[4], "--restart", 0};
  exec_bunker(exefd, args, envp);
  leave(127);
}

__attribute__((used)) void program_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (argc == 5 && argv[1][0] == 's') restart_after(argv, envp);
  if (argc != 5 && argc != 10) leave(2);
  long pid = number(argv[1]);
  long lockfd = number(argv[2]);
  long exefd = number(argv[3]);
  if (pid <= 0 || lockfd < 0 || exefd < 0) leave(2);
  sys6(NR_PRCTL, PR_SET_NAME_, (long)"bunker-wait", 0, 0, 0, 0);

  if (argc == 10) {
    long outfd = number(argv[5]), errfd = number(argv[6]);
    logf.dirfd = number(argv[7]);
    logf.max_size = number(argv[8]) * 1024;
    logf.max_files = number(argv[9]);
    if (outfd < 0 || errfd < 0 || logf.dirfd < 0 || logf.max_size < 0 || logf.max_files < 1) leave(2);
    log_open(&logf, 0);
    write_log(pid, outfd, errfd);
    if (logf.fd >= 0) sys6(NR_CLOSE, logf.fd, 0, 0, 0, 0, 0);
  }

  int status = 0;
  for (;;) {
    long r = sys6(NR_WAIT4, -1, (long)&status, WALL_, 0, 0, 0);
    if (r == pid) break;
    if (r == -EINTR_ || r > 0) continue;
    /* No child left that could be it (ECHILD), or worse: the next bunker command finds it ended. */
    leave(r == -ECHILD_ ? 3 : 4);
  }
  /*
   * What was held for the container goes: its published ports' sockets, and slirp4netns's exit
   * pipe, whose end stops slirp4netns. A helper that is this process's child is reaped here (for
   * 2 s at most), so that none is left to a parent that will not wait for it.
   */
  for (long fd = 3; fd < 4096; fd++)
    if (fd != lockfd && fd != exefd) sys6(NR_CLOSE, fd, 0, 0, 0, 0, 0);
  for (int i = 0; i < 200; i++) {
    int ignored;
    long r = sys6(NR_WAIT4, -1, (long)&ignored, WALL_ | WNOHANG_, 0, 0, 0);
    if (r == -ECHILD_) break;
    if (r == 0) {
      long ts[2] = {0, 10000000L};
      sys6(NR_NANOSLEEP, (long)ts, 0, 0, 0, 0, 0);
    }
  }
  while (sys6(NR_FLOCK, lockfd, LOCK_EX_, 0, 0, 0, 0) == -EINTR_) {
  }

  char code[24], fd[24];
  char *args[] = {"bunker", "__finish", argv[4], decimal((long)(unsigned)status, code), decimal(lockfd, fd), 0};
  /* fork: the finishing bunker is another process, so this one's end says the supervisor is gone. */
  long child = sys6(NR_CLONE, SIGCHLD_, 0, 0, 0, 0, 0);
  if (child == 0) {
    exec_bunker(exefd, args, envp);
    leave(127);
  }
  leave(child > 0 ? 0 : 5);
}

/*
 * bunker-wait: what a detached container's supervisor becomes once the
 * container runs. The supervising bunker process execs this small static
 * program from a memory file, so it keeps its pid (the container stays its
 * child, and dies with it) and holds kilobytes instead of a whole Bun.
 *
 *   bunker-wait PID LOCKFD EXEFD ID
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
 * No libc: raw system calls through nolibc.h, for x86_64 and aarch64.
 */

#include "nolibc.h"

#define LOCK_EX_ 2
#define AT_EMPTY_PATH_ 0x1000

__attribute__((used)) void program_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (argc != 5) leave(2);
  long pid = number(argv[1]);
  long lockfd = number(argv[2]);
  long exefd = number(argv[3]);
  if (pid <= 0 || lockfd < 0 || exefd < 0) leave(2);
  sys6(NR_PRCTL, PR_SET_NAME_, (long)"bunker-wait", 0, 0, 0, 0);

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
    sys6(NR_EXECVEAT, exefd, (long)"", (long)args, (long)envp, AT_EMPTY_PATH_, 0);
    /* Where execveat is missing (an emulator's system call layer), the same file by its /proc link. */
    char path[40] = "/proc/self/fd/";
    char num[24];
    decimal(exefd, num);
    int i = 14;
    for (int j = 0; num[j] && i < 39; j++) path[i++] = num[j];
    path[i] = 0;
    sys6(NR_EXECVE, (long)path, (long)args, (long)envp, 0, 0, 0);
    leave(127);
  }
  leave(child > 0 ? 0 : 5);
}

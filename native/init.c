/*
 * bunker-init: PID 1 of a container run with --init, once the command runs.
 * The child program's init starts the command, then execs this small static
 * program from a memory file, so that what stays in the container beside the
 * command is kilobytes rather than a copy of bunker.
 *
 *   init PID
 *   init hold
 *
 * PID is the command, this process's child. Every signal is blocked (by the
 * child program, before the exec; the mask and pending signals survive it),
 * so none is lost: SIGCHLD reaps every child, orphans included, and the
 * command's end ends init with the command's status; any other signal is
 * passed on to the command. The command line reads "init" (the pid is
 * cleared from it) and no descriptor is open. The command may run a moment
 * before this exec; init is then still the copy, which is not dumpable.
 *
 * With "hold" it holds namespaces and runs nothing (a user's rootless network
 * namespace, src/runtime/rootless-netns.ts): every signal but SIGKILL is
 * taken and dropped, and children it inherits are reaped.
 *
 * No libc: raw system calls through nolibc.h, for x86_64 and aarch64.
 */

#include "nolibc.h"

#define SIG_BLOCK_ 0

static void reap(long child) {
  int status = 0;
  long pid;
  while ((pid = sys6(NR_WAIT4, -1, (long)&status, WNOHANG_ | WALL_, 0, 0, 0)) > 0 || pid == -EINTR_) {
    if (pid == child) leave(exit_code(status));
  }
}

__attribute__((used)) void program_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  if (argc != 2) leave(125);
  const char *a = argv[1];
  int hold = a[0] == 'h' && a[1] == 'o' && a[2] == 'l' && a[3] == 'd' && a[4] == 0;
  /* -1 matches no child reaped and is never signalled. */
  long child = hold ? -1 : number(argv[1]);
  if (child <= 0 && !hold) leave(125);
  /*
   * /proc/1/cmdline without the pid: the digits become NULs and the area's
   * last byte (argv[1]'s NUL) a space, which tells the kernel the title was
   * rewritten, so it reads up to the first NUL: "init".
   */
  if (!hold) {
    volatile char *c = argv[1];
    while (*c) *c++ = 0;
    *c = ' ';
  }
  /* A holder goes by the name it was given (its argv[0]). */
  sys6(NR_PRCTL, PR_SET_NAME_, (long)(hold ? argv[0] : "init"), 0, 0, 0, 0);

  u64 all = ~0UL;
  sys6(NR_RT_SIGPROCMASK, SIG_BLOCK_, (long)&all, 0, KERNEL_SIGSET_SIZE_, 0, 0);
  /* The command may have ended before the exec; its SIGCHLD is pending then, but reap anyway. */
  reap(child);
  for (;;) {
    long info[SIGINFO_LONGS_];
    long sig = sys6(NR_RT_SIGTIMEDWAIT, (long)&all, (long)info, 0, KERNEL_SIGSET_SIZE_, 0, 0);
    if (sig == SIGCHLD_) reap(child);
    else if (sig > 0 && child > 0) sys6(NR_KILL, child, sig, 0, 0, 0, 0);
  }
}

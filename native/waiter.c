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
 * No libc and no headers: raw system calls, for x86_64 and aarch64. Built
 * static, without a dynamic loader, by native/object.ts.
 */

typedef unsigned long u64;

#if defined(__x86_64__)
#define NR_WAIT4 61
#define NR_FLOCK 73
#define NR_CLONE 56
#define NR_EXECVEAT 322
#define NR_EXECVE 59
#define NR_EXIT_GROUP 231
#define NR_PRCTL 157
#define NR_CLOSE 3
#define NR_NANOSLEEP 35

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return r;
}

__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call waiter_main\n hlt\n");
#elif defined(__aarch64__)
#define NR_WAIT4 260
#define NR_FLOCK 32
#define NR_CLONE 220
#define NR_EXECVEAT 281
#define NR_EXECVE 221
#define NR_EXIT_GROUP 94
#define NR_PRCTL 167
#define NR_CLOSE 57
#define NR_NANOSLEEP 101

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}

__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n and sp, x0, #-16\n bl waiter_main\n brk #0\n");
#else
#error "bunker-wait is built for x86_64 and aarch64"
#endif

#define EINTR_ 4
#define ECHILD_ 10
#define WALL_ 0x40000000L
#define WNOHANG_ 1L
#define LOCK_EX_ 2
#define SIGCHLD_ 17
#define AT_EMPTY_PATH_ 0x1000
#define PR_SET_NAME_ 15

static void leave(long code) {
  for (;;) sys6(NR_EXIT_GROUP, code, 0, 0, 0, 0, 0);
}

/* A non-negative decimal number, or -1. */
static long number(const char *s) {
  long n = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || n > 100000000L) return -1;
    n = n * 10 + (*s - '0');
  }
  return n;
}

/* Writes `n` (non-negative) in decimal into `buf` (room for 24). */
static char *decimal(long n, char *buf) {
  char tmp[24];
  int i = 0, j = 0;
  do {
    tmp[i++] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0 && i < 23);
  while (i > 0) buf[j++] = tmp[--i];
  buf[j] = 0;
  return buf;
}

__attribute__((used)) void waiter_main(long *sp) {
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

/*
 * What bunker's small static programs (waiter.c, init.c) share: raw system
 * calls for x86_64 and aarch64, an entry point that hands the initial stack
 * to `program_main`, and number formatting. No libc and no system headers;
 * built static, without a dynamic loader, by native/object.ts.
 */

typedef unsigned long u64;

#if defined(__x86_64__)
#define NR_CLOSE 3
#define NR_RT_SIGPROCMASK 14
#define NR_NANOSLEEP 35
#define NR_CLONE 56
#define NR_EXECVE 59
#define NR_WAIT4 61
#define NR_KILL 62
#define NR_FLOCK 73
#define NR_RT_SIGTIMEDWAIT 128
#define NR_PRCTL 157
#define NR_EXIT_GROUP 231
#define NR_EXECVEAT 322
#define NR_READ 0
#define NR_WRITE 1
#define NR_LSEEK 8
#define NR_CLOCK_GETTIME 228
#define NR_OPENAT 257
#define NR_PPOLL 271
#define NR_RENAMEAT2 316
#define NR_PIDFD_OPEN 434
#define NR_WAITID 247
#define NR_IOCTL 16
#define NR_SENDMSG 46
#define NR_ACCEPT4 288
#define O_NOFOLLOW_ 0400000

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return r;
}

__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call program_main\n hlt\n");
#elif defined(__aarch64__)
#define NR_CLOSE 57
#define NR_FLOCK 32
#define NR_EXIT_GROUP 94
#define NR_NANOSLEEP 101
#define NR_KILL 129
#define NR_RT_SIGPROCMASK 135
#define NR_RT_SIGTIMEDWAIT 137
#define NR_PRCTL 167
#define NR_CLONE 220
#define NR_EXECVE 221
#define NR_WAIT4 260
#define NR_EXECVEAT 281
#define NR_OPENAT 56
#define NR_LSEEK 62
#define NR_READ 63
#define NR_WRITE 64
#define NR_PPOLL 73
#define NR_CLOCK_GETTIME 113
#define NR_RENAMEAT2 276
#define NR_PIDFD_OPEN 434
#define NR_WAITID 95
#define NR_IOCTL 29
#define NR_SENDMSG 211
#define NR_ACCEPT4 242
#define O_NOFOLLOW_ 0100000

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
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

__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n and sp, x0, #-16\n bl program_main\n brk #0\n");
#else
#error "bunker's native programs are built for x86_64 and aarch64"
#endif

#define EINTR_ 4
#define EAGAIN_ 11
#define ECHILD_ 10
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define O_APPEND_ 02000
#define O_CLOEXEC_ 02000000
#define SIGCHLD_ 17
#define WNOHANG_ 1L
#define WALL_ 0x40000000L
#define PR_SET_NAME_ 15
#define WEXITED_ 4
#define WNOWAIT_ 0x01000000L
#define P_PID_ 1
#define SEEK_END_ 2
#define CLOCK_REALTIME_ 0
/* The kernel's sigset_t, for rt_sigprocmask and rt_sigtimedwait; where waitid puts si_pid. */
#define KERNEL_SIGSET_SIZE_ 8
#define SIGINFO_PID_ 16
#define SIGINFO_LONGS_ 16

static inline void leave(long code) {
  for (;;) sys6(NR_EXIT_GROUP, code, 0, 0, 0, 0, 0);
}

/* A non-negative decimal number, or -1. */
static inline long number(const char *s) {
  long n = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || n > 100000000L) return -1;
    n = n * 10 + (*s - '0');
  }
  return n;
}

/* Writes `n` (non-negative) in decimal into `buf` (room for 24). */
static inline char *decimal(long n, char *buf) {
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

#define AT_EMPTY_PATH_ 0x1000

/* Runs the program open on `exefd` (bunker's own executable) with `args`; returns only if that fails. */
static inline void exec_fd(long exefd, char **args, char **envp) {
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

/* The exit code a shell would give for a wait status: the code, or 128 + the signal. */
static inline long exit_code(int status) {
  return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
}

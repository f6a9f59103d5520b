/*
 * bunker child program interpreter.
 *
 * Runs in the process created by clone(2), between clone and execve, where no
 * JavaScript can run. It walks a flat array of steps, each a raw system call,
 * prepared by TypeScript. No system headers (only its generated layout,
 * child-layout.h) and no libc symbols are linked: the
 * program header carries the addresses of libc's syscall() and
 * __errno_location(), so this file compiles with -nostdlib on any host.
 *
 * On the first failing step it writes (step index, errno) to the error pipe
 * (close-on-exec) and exits; a successful execve closes the pipe, which the
 * parent reads as EOF.
 */

typedef long (*sys_fn)(long, ...);
typedef int *(*errno_fn)(void);
typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

/*
 * The step and program layouts, the step flags (F_*), the pseudo calls
 * (OP_FORK: a[0] child stack top, a[1] clone flags, the child goes on and the
 * caller exits; OP_INIT: the same, the caller staying as the container's
 * init, a[2] -> struct init_args) and the table's order: generated from
 * native/layout.ts, which the encoder uses too.
 */
#include "child-layout.h"

/*
 * Kernel values, named as the headers name them with a trailing "_" (NR_X
 * for __NR_x): test/unit/abi.test.ts checks each against both architectures'
 * headers. The same on x86_64 and aarch64 but for NR_EXIT.
 */
#define ENOENT_ 2
#define ENOTDIR_ 20
#define EINVAL_ 22
#define EINTR_ 4
#define ENOSYS_ 38
#define AT_EMPTY_PATH_ 0x1000L
#define SIGKILL_ 9
#define SIGSTOP_ 19
#define SIGCHLD_ 17
#define SIGWINCH_ 28
#define WNOHANG_ 1L
#define POLLIN_ 1
#define POLLHUP_ 0x10
#define TIOCGWINSZ_ 0x5413L
#define TIOCSWINSZ_ 0x5414L
/* The kernel's sigset_t (rt_sig* calls' size), glibc's struct sigaction (in longs) and siginfo_t (in longs). */
#define KERNEL_SIGSET_SIZE_ 8L
#define SIGACTION_LONGS_ 19
#define SIGINFO_LONGS_ 16
#if defined(__x86_64__)
#define NR_EXIT 60
#elif defined(__aarch64__)
#define NR_EXIT 93
#endif

static void report(struct program *p, long index, long e) {
  int msg[2];
  msg[0] = (int)index;
  msg[1] = (int)e;
  p->sys(p->sys_write, p->errfd, msg, 8L);
  p->sys(p->sys_exit_group, 125L);
}

static int ignored(long list, long e) {
  int i;
  for (i = 0; i < 4; i++) {
    long v = (list >> (16 * i)) & 0xffff;
    if (v != 0 && v == e) return 1;
  }
  return 0;
}

static int run(struct program *p, long start);

static int resume_child(void *arg) {
  struct program *p = (struct program *)arg;
  return run(p, p->resume);
}

/*
 * OP_FORK, for joining a PID namespace (setns only moves future children):
 * a child continues the program from the next step, sharing memory and, with
 * CLONE_VFORK, keeping the caller suspended until it has exec'd or died.
 * The caller then saves the child's pid and exits.
 */
static int fork_step(struct program *p, long i, long *a, struct step *s) {
  long r;
  p->resume = i + 1;
  r = p->clone(resume_child, (void *)a[0], (int)a[1], p);
  if (r == -1) {
    report(p, i, *p->err());
    return 125;
  }
  if (s->flags & F_SAVE) p->slots[s->save % NSLOTS] = r;
  p->sys(p->sys_exit_group, 0L);
  return 0;
}

/*
 * OP_INIT (--init): the caller becomes a minimal PID 1. It starts the command
 * as OP_FORK does, lets go of every descriptor, then waits for signals (all
 * blocked beforehand, so none is lost): SIGCHLD reaps every child, orphans
 * included, and the command's end ends init with the command's status; any
 * other signal is passed on to the command.
 * Given the program native/init.c (init_fd), it execs that instead, with the
 * command's pid as its argument: the same loop, without a copy of bunker's
 * memory. Where the exec is refused, it runs the loop itself.
 */
/*
 * Closes descriptors first..last (last -1: all of them) by one close_range;
 * a kernel without it (before Linux 5.9) has each closed in turn, up to the
 * highest bunker had open and a margin (ia->fd_bound).
 */
static void close_from(struct program *p, struct init_args *ia, long first, long last) {
  long fd, end;
  if (p->sys(ia->nr_close_range, first, last, 0L) != -1 || *p->err() != ENOSYS_) return;
  end = last < 0 || last > ia->fd_bound ? ia->fd_bound : last;
  for (fd = first; fd <= end; fd++) p->sys(ia->nr_close, fd);
}

static void exec_init(struct program *p, struct init_args *ia, long child) {
  char tmp[24];
  long n = child, k = 0, j = 0;
  do {
    tmp[k++] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0 && k < 23);
  while (k > 0) ia->pid_text[j++] = tmp[--k];
  ia->pid_text[j] = 0;
  if (ia->init_fd > 0) close_from(p, ia, 0L, ia->init_fd - 1);
  close_from(p, ia, ia->init_fd + 1, -1L);
  p->sys(ia->nr_execveat, ia->init_fd, "", ia->argv, ia->envp, AT_EMPTY_PATH_);
}

static int init_step(struct program *p, long i, long *a) {
  struct init_args *ia = (struct init_args *)a[2];
  long child, pid, sig;
  int status;
  long info[SIGINFO_LONGS_];
  p->resume = i + 1;
  child = p->clone(resume_child, (void *)a[0], (int)a[1], p);
  if (child == -1) {
    report(p, i, *p->err());
    return 125;
  }
  if (ia->init_fd >= 0) exec_init(p, ia, child);
  /* bunker waits for EOF on the error pipe: this init never execs, so it lets go of everything. */
  close_from(p, ia, 0L, -1L);
  for (;;) {
    sig = p->sys(ia->nr_sigtimedwait, ia->all_signals, info, 0L, KERNEL_SIGSET_SIZE_);
    if (sig == SIGCHLD_) {
      while ((pid = p->sys(ia->nr_wait4, -1L, &status, WNOHANG_, 0L)) > 0) {
        if (pid == child) p->sys(p->sys_exit_group, (long)((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)));
      }
    } else if (sig > 0) {
      p->sys(ia->nr_kill, child, sig);
    }
  }
  return 0;
}

int bunker_child(void *arg) {
  return run((struct program *)arg, 0);
}

static int run(struct program *p, long start) {
  long pend_index = -1, pend_errno = 0;
  long i;
  for (i = start; i < p->nsteps; i++) {
    struct step *s = &p->steps[i];
    long a[6];
    long r, e = 0;
    int k;
    for (k = 0; k < 6; k++) {
      long slot = (s->slotargs >> (8 * k)) & 0xff;
      a[k] = slot ? p->slots[(slot - 1) % NSLOTS] : s->arg[k];
    }
    if (s->nr == OP_FORK) return fork_step(p, i, a, s);
    if (s->nr == OP_INIT) return init_step(p, i, a);
    if (s->nr < 0) {
      report(p, i, EINVAL_);
      return 125;
    }
    r = p->sys(s->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (r == -1) {
      e = *p->err();
      if (ignored(s->ignore, e)) e = 0;
    }
    /* An ignored failure leaves r == -1, which an expectation may ask for. */
    if (e == 0 && (s->flags & F_EXPECT) && r != s->expect) e = s->experr;
    if (e == 0) {
      if ((s->flags & F_SAVE) && r != -1) p->slots[s->save % NSLOTS] = r;
      if (s->flags & F_PROBE) {
        /* found: skip the group's other alternatives */
        while (i + 1 < p->nsteps && (p->steps[i + 1].flags & F_PROBE)) i++;
        pend_index = -1;
        pend_errno = 0;
      }
      continue;
    }
    if (s->flags & (F_CONTINUE | F_PROBE)) {
      /* execvp's rule: a later "not found" never hides an earlier real error */
      if (pend_index < 0 || ((pend_errno == ENOENT_ || pend_errno == ENOTDIR_) && e != ENOENT_ && e != ENOTDIR_)) {
        pend_index = i;
        pend_errno = e;
      }
      /* the group's last alternative failed too */
      if ((s->flags & F_PROBE) && !(i + 1 < p->nsteps && (p->steps[i + 1].flags & F_PROBE))) {
        report(p, pend_index, pend_errno);
        return 125;
      }
      continue;
    }
    report(p, i, e);
    return 125;
  }
  if (pend_index >= 0) report(p, pend_index, pend_errno);
  else report(p, p->nsteps, EINVAL_);
  return 125;
}

/*
 * Signal forwarding for the supervising parent. The handler runs on whichever
 * thread the kernel picks, so it only touches these globals and makes one
 * system call. Signals that arrive before the container's pid is known are
 * remembered and sent once it is.
 */
static sys_fn fwd_sys;
static long fwd_kill_nr;
static long fwd_write_nr;
static volatile long fwd_pid;
static volatile unsigned long fwd_pending;
static volatile long fwd_winch_fd = -1; /* with a terminal: SIGWINCH wakes the relay instead */
/*
 * Until the container's command runs, its process is bunker's set-up, which
 * as PID 1 of a new PID namespace drops every signal left at its default
 * action (only SIGKILL gets through). A signal meant to end it (any but
 * SIGWINCH) kills it then, and is remembered for bunker to report.
 */
static volatile long fwd_starting;
static volatile long fwd_interrupted;
/*
 * The error pipe's read end while bunker waits for the start-up report. A
 * signal can arrive after the command's execve and before bunker has read
 * the end of file that execve gave: the pipe already says the command runs,
 * and the signal is then passed on as it is.
 */
static volatile long fwd_report_fd = -1;
static long fwd_ppoll_nr;

struct pollfd_ {
  int fd;
  short events, revents;
};

static int fwd_command_runs(void) {
  struct pollfd_ p;
  long zero[2] = {0, 0};
  if (fwd_report_fd < 0) return 0;
  p.fd = (int)fwd_report_fd;
  p.events = POLLIN_;
  p.revents = 0;
  if (fwd_sys(fwd_ppoll_nr, &p, 1L, zero, 0L, KERNEL_SIGSET_SIZE_) != 1) return 0;
  /* Every write end closed and no report written: execve happened. */
  return (p.revents & POLLHUP_) && !(p.revents & POLLIN_);
}

static void fwd_send(long pid, long sig) {
  if (fwd_starting && sig != SIGWINCH_ && !fwd_command_runs()) {
    if (!fwd_interrupted) fwd_interrupted = sig;
    sig = SIGKILL_;
  }
  fwd_sys(fwd_kill_nr, pid, sig);
}

void bunker_forward(int sig) {
  long pid = fwd_pid;
  char c = 'w';
  if (sig == SIGWINCH_ && fwd_winch_fd >= 0) {
    fwd_sys(fwd_write_nr, fwd_winch_fd, &c, 1L);
    return;
  }
  if (pid > 0) fwd_send(pid, (long)sig);
  else if (pid == 0 && sig > 0 && sig < 64) fwd_pending |= 1UL << sig;
  /* pid < 0: the container is gone and its pid may be reused; drop the signal */
}

void bunker_forward_init(void *sys, long kill_nr, long write_nr, long winch_fd, long report_fd, long ppoll_nr) {
  fwd_sys = (sys_fn)sys;
  fwd_kill_nr = kill_nr;
  fwd_write_nr = write_nr;
  fwd_winch_fd = winch_fd;
  fwd_report_fd = report_fd;
  fwd_ppoll_nr = ppoll_nr;
  fwd_pid = 0;
  fwd_pending = 0;
  fwd_starting = 1;
  fwd_interrupted = 0;
}

void bunker_forward_to(int pid) {
  int sig;
  fwd_pid = pid;
  if (pid <= 0) return;
  for (sig = 1; sig < 64; sig++)
    if (fwd_pending & (1UL << sig)) fwd_send((long)pid, (long)sig);
  fwd_pending = 0;
}

/* The command runs: signals are passed on as they are. Returns the one that ended the set-up, or 0. */
long bunker_forward_started(void) {
  fwd_starting = 0;
  fwd_report_fd = -1;
  return fwd_interrupted;
}

/*
 * For the parent: a mask (bit sig-1) of the signals whose disposition is not
 * the default, read through libc's sigaction (whose address is `fn`). Their
 * handlers, and ignored signals, would otherwise reach the container.
 */
typedef int (*sigaction_fn)(int, const void *, void *);

unsigned long bunker_nondefault_signals(void *fn) {
  sigaction_fn sa = (sigaction_fn)fn;
  unsigned long mask = 0;
  long old[SIGACTION_LONGS_]; /* the handler comes first */
  int sig;
  for (sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL_ || sig == SIGSTOP_ || sig == 32 || sig == 33) continue; /* fixed, or glibc's own */
    old[0] = 0;
    if (sa(sig, 0, old) == 0 && old[0] != 0) mask |= 1UL << (sig - 1);
  }
  return mask;
}

/*
 * The terminal relay for -t, run by bunker (not the child) once the container
 * has its pseudo-terminal: input to the pty master, master output to the
 * caller, and the caller's window size onto the pty whenever SIGWINCH wakes
 * the winch pipe. Returns when the master reports end or error (every holder
 * of the terminal in the container is gone). Only system calls, through `sys`.
 */
struct relay_args {
  long in, out, master, winch; /* in < 0: nothing to read */
  long nr_ppoll, nr_read, nr_write, nr_ioctl;
  char *buf;
  long bufsize;
};

static errno_fn relay_errno_fn;
static int *relay_errno(void) { return relay_errno_fn(); }

void bunker_relay_init(void *errno_location) { relay_errno_fn = (errno_fn)errno_location; }

static long write_all(struct relay_args *r, long fd, char *b, long n) {
  while (n > 0) {
    long w = fwd_sys(r->nr_write, fd, b, n);
    if (w < 0) {
      if (*relay_errno() == EINTR_) continue;
      return -1;
    }
    b += w;
    n -= w;
  }
  return 0;
}

long bunker_relay(struct relay_args *r) {
  struct pollfd_ fds[3];
  long winsize[1];
  int in_open = r->in >= 0;
  for (;;) {
    long n, k = 0;
    int im = -1, ii = -1, iw = -1;
    fds[k].fd = (int)r->master; fds[k].events = POLLIN_; fds[k].revents = 0; im = (int)k++;
    if (in_open) { fds[k].fd = (int)r->in; fds[k].events = POLLIN_; fds[k].revents = 0; ii = (int)k++; }
    if (r->winch >= 0) { fds[k].fd = (int)r->winch; fds[k].events = POLLIN_; fds[k].revents = 0; iw = (int)k++; }
    n = fwd_sys(r->nr_ppoll, fds, k, 0L, 0L, KERNEL_SIGSET_SIZE_);
    if (n < 0) {
      if (*relay_errno() == EINTR_) continue;
      return -*relay_errno();
    }
    if (fds[im].revents) {
      n = fwd_sys(r->nr_read, r->master, r->buf, r->bufsize);
      if (n <= 0) {
        if (n < 0 && *relay_errno() == EINTR_) continue;
        return 0; /* EIO: the container side closed the terminal */
      }
      if (write_all(r, r->out, r->buf, n) < 0) return -*relay_errno();
    }
    if (ii >= 0 && fds[ii].revents) {
      n = fwd_sys(r->nr_read, r->in, r->buf, r->bufsize);
      if (n < 0 && *relay_errno() == EINTR_) continue;
      if (n <= 0) {
        /* Input ended: hand the terminal an end-of-file (^D) and stop reading. */
        char eof = 4;
        write_all(r, r->master, &eof, 1L);
        in_open = 0;
      } else if (write_all(r, r->master, r->buf, n) < 0) {
        return -*relay_errno();
      }
    }
    if (iw >= 0 && fds[iw].revents) {
      fwd_sys(r->nr_read, r->winch, r->buf, r->bufsize);
      if (fwd_sys(r->nr_ioctl, r->in >= 0 ? r->in : 0L, TIOCGWINSZ_, winsize) == 0)
        fwd_sys(r->nr_ioctl, r->master, TIOCSWINSZ_, winsize);
    }
  }
}

/*
 * clone3(2) with the child starting in bunker_child(p) on the stack that
 * `args` names: what CLONE_INTO_CGROUP needs (a process born in its cgroup,
 * so nobody has to move it there, which waits for an RCU grace period).
 * libc exports no such wrapper, and a raw clone3 returns into the caller's
 * frame on the new stack, so the child's first instructions are written
 * here. Returns the child's pid, or -errno. Not in the run-time compile
 * (TinyCC): there it says ENOSYS, and bunker uses libc's clone().
 */
long bunker_clone3(void *args, long size, long nr, struct program *p) {
#if defined(__x86_64__) && !defined(__TINYC__)
  long ret;
  register long arg __asm__("r12") = (long)p;
  register long fn __asm__("r13") = (long)bunker_child;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "and $-16, %%rsp\n\t"
      "mov %%r12, %%rdi\n\t"
      "call *%%r13\n\t"
      "mov %%eax, %%edi\n\t"
      "mov %[exit], %%eax\n\t"
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "a"(nr), "D"(args), "S"(size), "r"(arg), "r"(fn), [exit] "i"(NR_EXIT)
      : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__) && !defined(__TINYC__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = (long)args;
  register long x1 __asm__("x1") = size;
  register long x19 __asm__("x19") = (long)p;
  register long x20 __asm__("x20") = (long)bunker_child;
  __asm__ volatile(
      "svc 0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t"
      "mov x30, xzr\n\t"
      "mov x0, x19\n\t"
      "blr x20\n\t"
      "mov x8, %[exit]\n\t"
      "svc 0\n\t"
      "brk #0\n\t"
      "1:\n\t"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x19), "r"(x20), [exit] "i"(NR_EXIT)
      : "memory", "x30");
  return x0;
#else
  (void)args;
  (void)size;
  (void)nr;
  (void)p;
  return -ENOSYS_;
#endif
}

/*
 * The one symbol handed to bun:ffi (each symbol costs it a generated
 * trampoline): the addresses of everything above, in a fixed order.
 */
static void *table[TABLE_SIZE];

void **bunker_table(void) {
#define ENTRY(i, f) table[i] = (void *)f;
  BUNKER_TABLE(ENTRY)
#undef ENTRY
  return table;
}

/*
 * bunker-wait: what a detached container's supervisor becomes once the
 * container runs. The supervising bunker process execs this small static
 * program from a memory file, so it keeps its pid (the container stays its
 * child, and dies with it) and holds kilobytes instead of a whole Bun.
 *
 *   bunker-wait PID LOCKFD EXEFD ID [OUTFD ERRFD INFD SOCKFD TTY LOGDIRFD MAXKIB MAXFILES]
 *
 * With the eight more (-1 for each that is absent), it serves the container
 * while it waits: what comes on OUTFD and ERRFD (the read ends of its stdout
 * and stderr; with TTY 1, OUTFD is its terminal's master and ERRFD -1) goes
 * to LOGDIRFD's container.log (logfile.h), MAXKIB KiB a file (0: no cap),
 * MAXFILES files kept, and to each client attached on SOCKFD (a listening
 * SOCK_SEQPACKET socket); what the clients send goes to INFD (its stdin's
 * write end) or the master, and a client's window size onto the master. It
 * stops once PID has ended and the output has nothing more to give.
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
 * Attached clients (`bunker attach`): SOCK_SEQPACKET connections accepted on
 * the container's attach socket. Each message to a client is one byte naming
 * the stream (1 stdout, 2 stderr) and the bytes; each from a client is one
 * byte of type (0 input, 1 a window size of 8 bytes) and its bytes.
 */
#define CLIENTS 8
static int clients[CLIENTS];

struct iovec_ {
  void *base;
  long len;
};

struct msghdr_ {
  void *name;
  int namelen, pad0;
  struct iovec_ *iov;
  long iovlen;
  void *control;
  long controllen;
  int flags, pad1;
};

#define MSG_DONTWAIT_ 0x40
#define MSG_NOSIGNAL_ 0x4000
#define SOCK_NONBLOCK_ 04000
#define SOCK_CLOEXEC_ 02000000
#define TIOCSWINSZ_ 0x5414
#define POLLOUT_ 4

static void drop_client(int i) {
  sys6(NR_CLOSE, clients[i], 0, 0, 0, 0, 0);
  clients[i] = -1;
}

/*
 * Gives `n` bytes of stream `stream` to each client. One that cannot take
 * them within 200 ms is let go: the container is never held up for long.
 */
static void to_clients(char stream, char *data, long n) {
  struct iovec_ iov[2] = {{&stream, 1}, {data, n}};
  for (int i = 0; i < CLIENTS; i++) {
    if (clients[i] < 0) continue;
    struct msghdr_ msg = {0, 0, 0, iov, 2, 0, 0, 0, 0};
    long r = sys6(NR_SENDMSG, clients[i], (long)&msg, MSG_DONTWAIT_ | MSG_NOSIGNAL_, 0, 0, 0);
    if (r == -EAGAIN_) {
      struct pollfd_ p = {clients[i], POLLOUT_, 0};
      long ts[2] = {0, 200000000L};
      if (sys6(NR_PPOLL, (long)&p, 1, (long)ts, 0, 0, 0) == 1) r = sys6(NR_SENDMSG, clients[i], (long)&msg, MSG_DONTWAIT_ | MSG_NOSIGNAL_, 0, 0, 0);
    }
    if (r < 0) drop_client(i);
  }
}

/* What a client sent: input for the container, or its terminal's new size. */
static void from_client(int i, long infd, long master) {
  long r = sys6(NR_READ, clients[i], (long)chunk, sizeof chunk, 0, 0, 0);
  if (r == -EINTR_ || r == -EAGAIN_) return;
  if (r <= 0) {
    drop_client(i);
    return;
  }
  if (chunk[0] == 0 && r > 1) {
    long to = master >= 0 ? master : infd;
    /* Input the container does not read fast enough is dropped, not waited for. */
    if (to >= 0) sys6(NR_WRITE, to, (long)(chunk + 1), r - 1, 0, 0, 0);
  } else if (chunk[0] == 1 && r == 9 && master >= 0) {
    sys6(NR_IOCTL, master, TIOCSWINSZ_, (long)(chunk + 1), 0, 0, 0);
  }
}

/*
 * Serves the container until its first process has ended and its output is
 * done (at its end, or silent for a second after it): what comes on
 * fds[0] and fds[1] (stdout and stderr, or a terminal's master alone) goes
 * to the log (when logf.dirfd >= 0) and to attached clients, and what they
 * send goes to its input (`infd`, or the master). Its end is seen on a pidfd
 * (or, without one, by looking every 200 ms).
 */
static void serve(long pid, long outfd, long errfd, long infd, long sock, long tty) {
  streams[0].name = "stdout";
  streams[1].name = "stderr";
  for (int i = 0; i < CLIENTS; i++) clients[i] = -1;
  long master = tty ? outfd : -1;
  long pidfd = sys6(NR_PIDFD_OPEN, pid, 0, 0, 0, 0, 0);
  /* 0, 1: output; 2: the pidfd; 3: the attach socket; then the clients. */
  struct pollfd_ fds[4 + CLIENTS];
  fds[0].fd = (int)outfd;
  fds[1].fd = (int)errfd;
  fds[2].fd = (int)(pidfd >= 0 ? pidfd : -1);
  fds[3].fd = (int)sock;
  long ended = 0;
  for (;;) {
    if (fds[0].fd < 0 && fds[1].fd < 0 && ended) break;
    if (!ended && pidfd < 0) {
      /* WNOWAIT: seen, not reaped (the loop after this reaps it). si_pid stays 0 while it runs. */
      int info[SIGINFO_LONGS_ * 2] = {0};
      long r = sys6(NR_WAITID, P_PID_, pid, (long)info, WEXITED_ | WNOWAIT_ | WNOHANG_, 0, 0);
      if (r == 0 && info[SIGINFO_PID_ / 4] == pid) ended = 1;
    }
    for (int i = 0; i < 4 + CLIENTS; i++) {
      if (i >= 4) fds[i].fd = clients[i - 4];
      fds[i].events = POLLIN_;
      fds[i].revents = 0;
    }
    long ts[2] = {ended ? 1 : 0, ended ? 0 : 200000000L};
    long n = sys6(NR_PPOLL, (long)fds, 4 + CLIENTS, (ended || pidfd < 0) ? (long)ts : 0, 0, 0, 0);
    if (n == -EINTR_) continue;
    if (n < 0) break;
    /* A second without a word after the container ended: a process that kept its output open is not waited for. */
    if (n == 0 && ended) break;
    if (fds[2].fd >= 0 && fds[2].revents) {
      ended = 1;
      fds[2].fd = -1;
    }
    if (fds[3].fd >= 0 && fds[3].revents) {
      long c = sys6(NR_ACCEPT4, sock, 0, 0, SOCK_NONBLOCK_ | SOCK_CLOEXEC_, 0, 0);
      if (c >= 0) {
        int placed = 0;
        for (int i = 0; i < CLIENTS && !placed; i++)
          if (clients[i] < 0) clients[i] = (int)c, placed = 1;
        if (!placed) sys6(NR_CLOSE, c, 0, 0, 0, 0, 0);
      }
    }
    for (int i = 0; i < CLIENTS; i++)
      if (fds[4 + i].fd >= 0 && fds[4 + i].revents && clients[i] == fds[4 + i].fd) from_client(i, infd, master);
    log_now(&logf);
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN_ | POLLHUP_ | POLLERR_))) continue;
      long r = sys6(NR_READ, fds[i].fd, (long)chunk, sizeof chunk, 0, 0, 0);
      if (r == -EINTR_ || r == -EAGAIN_) continue;
      if (r <= 0) {
        /* Its end (a terminal's master says EIO): an unfinished line goes as it is. */
        if (logf.dirfd >= 0 && streams[i].len > 0) log_record(&logf, &streams[i]);
        if (fds[i].fd != master) sys6(NR_CLOSE, fds[i].fd, 0, 0, 0, 0, 0);
        fds[i].fd = -1;
        continue;
      }
      to_clients((char)(i + 1), chunk, r);
      if (logf.dirfd >= 0) log_bytes(&logf, &streams[i], chunk, r);
    }
    if (logf.dirfd >= 0) log_flush(&logf);
  }
  if (logf.dirfd >= 0) {
    for (int i = 0; i < 2; i++)
      if (streams[i].len > 0) log_record(&logf, &streams[i]);
    log_flush(&logf);
  }
  /* Clients see the end of their connection: the container's output is over. */
  for (int i = 0; i < CLIENTS; i++)
    if (clients[i] >= 0) drop_client(i);
  if (pidfd >= 0) sys6(NR_CLOSE, pidfd, 0, 0, 0, 0, 0);
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
  exec_fd(exefd, args, envp);
  leave(127);
}

__attribute__((used)) void program_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (argc == 5 && argv[1][0] == 's') restart_after(argv, envp);
  if (argc != 5 && argc != 13) leave(2);
  long pid = number(argv[1]);
  long lockfd = number(argv[2]);
  long exefd = number(argv[3]);
  if (pid <= 0 || lockfd < 0 || exefd < 0) leave(2);
  sys6(NR_PRCTL, PR_SET_NAME_, (long)"bunker-wait", 0, 0, 0, 0);

  if (argc == 13) {
    /* A number that is not one (-1 for none) reads as -1. */
    long outfd = number(argv[5]), errfd = number(argv[6]), infd = number(argv[7]), sock = number(argv[8]), tty = number(argv[9]);
    logf.fd = -1;
    logf.dirfd = number(argv[10]);
    logf.max_size = number(argv[11]) * 1024;
    logf.max_files = number(argv[12]);
    if (outfd < 0 || logf.max_size < 0 || logf.max_files < 1 || tty < 0) leave(2);
    if (logf.dirfd >= 0) log_open(&logf, 0);
    serve(pid, outfd, errfd, infd, sock, tty);
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
    exec_fd(exefd, args, envp);
    leave(127);
  }
  leave(child > 0 ? 0 : 5);
}

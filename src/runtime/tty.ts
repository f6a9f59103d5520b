// -t: a pseudo-terminal from the container's own devpts. The child opens it,
// makes the peer its controlling terminal and stdio, and sends the master to
// bunker over a socket (SCM_RIGHTS); bunker puts the caller's terminal in raw
// mode (always restored), relays both ways and keeps the window size in step.

import { ptr } from "bun:ffi";
import type { ChildProgram } from "../child/program";
import { AF_UNIX, AT, F_DUPFD_CLOEXEC, O, SCM_RIGHTS, SOCK_CLOEXEC, SOCK_STREAM, SOL_SOCKET, TCGETS, TCSETSW, TERMIOS_C, TERMIOS_I, TERMIOS_L, TERMIOS_O, TIOCGPTPEER, TIOCGWINSZ, TIOCSCTTY, TIOCSPTLCK, TIOCSWINSZ, V } from "../sys/constants";
import { SysError } from "../sys/errno";
import { CMSGHDR_LAYOUT as CMSG, IOVEC_LAYOUT, MSGHDR_LAYOUT as MSG, TERMIOS_LAYOUT as T, WINSIZE_LAYOUT as WS } from "../sys/layouts";
import { closeFd, pipe, sys, trySys } from "../sys/libc";
import type { Native } from "../sys/native";


export interface TerminalSetup {
  parentSock: number;
  childSock: number;
  /** A descriptor number the child overwrites with the master, so the message can name it. */
  slot: number;
  winchRead: number;
  winchWrite: number;
  /** The caller's window size, when stdin is a terminal. */
  winsize: Uint8Array | null;
}

export function isTerminal(fd: number): boolean {
  return trySys("ioctl", fd, TCGETS, new Uint8Array(T.SIZE)) === 0;
}

/** A detached container's terminal until a client attaches and says its size: docker's 24 rows of 80 columns. */
const DETACHED_SIZE = winsize(24, 80);

/** struct winsize of `rows` and `cols`. */
function winsize(rows: number, cols: number): Uint8Array {
  const ws = new Uint8Array(WS.SIZE);
  const dv = new DataView(ws.buffer);
  dv.setUint16(WS.row, rows, true);
  dv.setUint16(WS.col, cols, true);
  return ws;
}

export function prepareTerminal(detached = false): TerminalSetup {
  const fds = new Int32Array(2);
  sys("create the terminal socket", "socketpair", AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
  const slot = sys("open /dev/null", "openat", AT.FDCWD, new TextEncoder().encode("/dev/null\0"), O.RDONLY | O.CLOEXEC, 0);
  const [winchRead, winchWrite] = pipe("create the window-size pipe", O.CLOEXEC | O.NONBLOCK);
  const ws = new Uint8Array(WS.SIZE);
  const size = detached ? DETACHED_SIZE : trySys("ioctl", 0, TIOCGWINSZ, ws) === 0 ? ws : null;
  return { parentSock: fds[0]!, childSock: fds[1]!, slot, winchRead, winchWrite, winsize: size };
}

/**
 * OCI's --console-socket: the child sends the master to `sock` (connected to
 * the client's socket) itself, and bunker relays nothing. The size is the
 * config's consoleSize, if any. The setup holds a copy of `sock`, which
 * closeTerminal closes; the caller keeps its own.
 */
export function consoleTerminal(sock: number, size: { height: number; width: number } | undefined): TerminalSetup {
  const copy = sys("copy the console socket", "fcntl", sock, F_DUPFD_CLOEXEC, 3);
  const slot = sys("open /dev/null", "openat", AT.FDCWD, new TextEncoder().encode("/dev/null\0"), O.RDONLY | O.CLOEXEC, 0);
  return { parentSock: -1, childSock: copy, slot, winchRead: -1, winchWrite: -1, winsize: size ? winsize(size.height, size.width) : null };
}

export function closeTerminal(t: TerminalSetup): void {
  for (const fd of [t.parentSock, t.childSock, t.slot, t.winchRead, t.winchWrite]) closeFd(fd);
}

/** Child steps: the pty, its peer as controlling terminal and stdio, the master sent to bunker. */
export function planTerminal(p: ChildProgram, t: TerminalSetup): void {
  const master = p.newSlot();
  const peer = p.newSlot();
  p.call("open /dev/ptmx", "openat", [AT.FDCWD, p.str("/dev/ptmx"), O.RDWR | O.NOCTTY | O.CLOEXEC, 0], { save: master });
  p.call("unlock the terminal", "ioctl", [master, TIOCSPTLCK, p.arena.words([0])]);
  // Close-on-exec: the command gets the peer as 0, 1 and 2 only.
  p.call("open the terminal's peer", "ioctl", [master, TIOCGPTPEER, O.RDWR | O.NOCTTY | O.CLOEXEC], { save: peer });
  if (t.winsize) p.call("set the terminal's size", "ioctl", [peer, TIOCSWINSZ, p.arena.bytes(t.winsize)]);
  p.call("start a session", "setsid", []);
  p.call("make the terminal the controlling one", "ioctl", [peer, TIOCSCTTY, 0]);
  p.call("put the terminal's master in place to send", "dup3", [master, t.slot, O.CLOEXEC]);
  // struct msghdr with one byte of data and an SCM_RIGHTS message naming `slot`.
  const iovBase = p.arena.bytes(new Uint8Array([0x74]));
  const iov = p.arena.bytes(iovec(iovBase, 1));
  const cmsg = new Uint8Array(CMSG.SPACE_FD);
  const dv = new DataView(cmsg.buffer);
  dv.setBigUint64(CMSG.len, BigInt(CMSG.LEN_FD), true);
  dv.setInt32(CMSG.level, SOL_SOCKET, true);
  dv.setInt32(CMSG.type, SCM_RIGHTS, true);
  dv.setInt32(CMSG.data, t.slot, true);
  const control = p.arena.bytes(cmsg);
  const msg = p.arena.bytes(msghdr(iov, control, CMSG.SPACE_FD));
  p.call("send the terminal to bunker", "sendmsg", [t.childSock, msg, 0], { expect: { value: 1, errno: 5 } });
  p.call("close the sent copy", "close", [t.slot]);
  for (const fd of [0, 1, 2]) p.call(`make the terminal fd ${fd}`, "dup3", [peer, fd, 0]);
}

/** struct iovec of `len` bytes at `base`. */
function iovec(base: number, len: number): Uint8Array {
  const b = new Uint8Array(IOVEC_LAYOUT.SIZE);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(IOVEC_LAYOUT.base, BigInt(base), true);
  dv.setBigUint64(IOVEC_LAYOUT.len, BigInt(len), true);
  return b;
}

/** struct msghdr with one iovec at `iov` and `controllen` bytes of control at `control`. */
function msghdr(iov: number, control: number, controllen: number): Uint8Array {
  const b = new Uint8Array(MSG.SIZE);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(MSG.iov, BigInt(iov), true);
  dv.setBigUint64(MSG.iovlen, 1n, true);
  dv.setBigUint64(MSG.control, BigInt(control), true);
  dv.setBigUint64(MSG.controllen, BigInt(controllen), true);
  return b;
}

/** Receives the master sent by planTerminal. */
export function receiveMaster(t: TerminalSetup): number {
  const data = new Uint8Array(1);
  const control = new Uint8Array(CMSG.SPACE_FD);
  const iov = iovec(ptr(data), 1);
  const msg = msghdr(ptr(iov), ptr(control), CMSG.SPACE_FD);
  const n = trySys("recvmsg", t.parentSock, msg, 0);
  if (n <= 0) throw new SysError("receive the container's terminal", n < 0 ? -n : 71);
  return new DataView(control.buffer).getInt32(CMSG.data, true);
}

/** cfmakeraw on the caller's terminal; returns the settings to restore. */
export function makeRaw(fd: number): Uint8Array | null {
  const saved = new Uint8Array(T.SIZE);
  if (trySys("ioctl", fd, TCGETS, saved) !== 0) return null;
  const raw = saved.slice();
  const dv = new DataView(raw.buffer);
  const I = TERMIOS_I;
  const L = TERMIOS_L;
  const iflag = dv.getUint32(T.iflag, true) & ~(I.IGNBRK | I.BRKINT | I.PARMRK | I.ISTRIP | I.INLCR | I.IGNCR | I.ICRNL | I.IXON);
  const oflag = dv.getUint32(T.oflag, true) & ~TERMIOS_O.OPOST;
  const cflag = (dv.getUint32(T.cflag, true) & ~(TERMIOS_C.CSIZE | TERMIOS_C.PARENB)) | TERMIOS_C.CS8;
  const lflag = dv.getUint32(T.lflag, true) & ~(L.ECHO | L.ECHONL | L.ICANON | L.ISIG | L.IEXTEN);
  dv.setUint32(T.iflag, iflag, true);
  dv.setUint32(T.oflag, oflag, true);
  dv.setUint32(T.cflag, cflag, true);
  dv.setUint32(T.lflag, lflag, true);
  raw[T.cc + V.MIN] = 1;
  raw[T.cc + V.TIME] = 0;
  trySys("ioctl", fd, TCSETSW, raw);
  return saved;
}

export function restoreTerminal(fd: number, saved: Uint8Array | null): void {
  if (saved) trySys("ioctl", fd, TCSETSW, saved);
}

/** Relays until the container's side of the terminal is gone; the caller's terminal is restored in any case. */
export function relayTerminal(native: Native, t: TerminalSetup, master: number, interactive: boolean): void {
  const saved = interactive && isTerminal(0) ? makeRaw(0) : null;
  try {
    native.relay({ in: interactive ? 0 : -1, out: 1, master, winch: t.winchRead });
  } finally {
    restoreTerminal(0, saved);
    closeFd(master);
  }
}

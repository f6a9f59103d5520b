// -t: a pseudo-terminal from the container's own devpts. The child opens it,
// makes the peer its controlling terminal and stdio, and sends the master to
// bunker over a socket (SCM_RIGHTS); bunker puts the caller's terminal in raw
// mode (always restored), relays both ways and keeps the window size in step.

import { ptr, read } from "bun:ffi";
import type { ChildProgram } from "../child/program";
import { AF_UNIX, AT, O, SOCK_CLOEXEC, SOCK_STREAM } from "../sys/constants";
import { SysError } from "../sys/errno";
import { closeFd, pipe, sys, trySys } from "../sys/libc";
import type { Native } from "../sys/native";

const TCGETS = 0x5401;
const TCSETSW = 0x5403;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TIOCSCTTY = 0x540e;
const TIOCSPTLCK = 0x40045431;
const TIOCGPTPEER = 0x5441;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const F_DUPFD_CLOEXEC = 1030;

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
  return trySys("ioctl", fd, TCGETS, new Uint8Array(64)) === 0;
}

/** A detached container's terminal until a client attaches and says its size: docker's 24 rows of 80 columns. */
const DETACHED_SIZE = new Uint8Array([24, 0, 80, 0, 0, 0, 0, 0]);

export function prepareTerminal(detached = false): TerminalSetup {
  const fds = new Int32Array(2);
  sys("create the terminal socket", "socketpair", AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
  const slot = sys("open /dev/null", "openat", AT.FDCWD, new TextEncoder().encode("/dev/null\0"), O.RDONLY | O.CLOEXEC, 0);
  const [winchRead, winchWrite] = pipe("create the window-size pipe", O.CLOEXEC | O.NONBLOCK);
  const ws = new Uint8Array(8);
  const winsize = detached ? DETACHED_SIZE : trySys("ioctl", 0, TIOCGWINSZ, ws) === 0 ? ws : null;
  return { parentSock: fds[0]!, childSock: fds[1]!, slot, winchRead, winchWrite, winsize };
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
  let winsize: Uint8Array | null = null;
  if (size) {
    winsize = new Uint8Array(8);
    const dv = new DataView(winsize.buffer);
    dv.setUint16(0, size.height, true);
    dv.setUint16(2, size.width, true);
  }
  return { parentSock: -1, childSock: copy, slot, winchRead: -1, winchWrite: -1, winsize };
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
  const iov = p.arena.words([iovBase, 1]);
  const cmsg = new Uint8Array(24);
  const dv = new DataView(cmsg.buffer);
  dv.setBigUint64(0, 20n, true);
  dv.setInt32(8, SOL_SOCKET, true);
  dv.setInt32(12, SCM_RIGHTS, true);
  dv.setInt32(16, t.slot, true);
  const control = p.arena.bytes(cmsg);
  const msg = p.arena.words([0, 0, iov, 1, control, 24, 0]);
  p.call("send the terminal to bunker", "sendmsg", [t.childSock, msg, 0], { expect: { value: 1, errno: 5 } });
  p.call("close the sent copy", "close", [t.slot]);
  for (const fd of [0, 1, 2]) p.call(`make the terminal fd ${fd}`, "dup3", [peer, fd, 0]);
}

/** Receives the master sent by planTerminal. */
export function receiveMaster(t: TerminalSetup): number {
  const data = new Uint8Array(1);
  const control = new Uint8Array(24);
  const iov = new BigUint64Array([BigInt(ptr(data)), 1n]);
  const msg = new BigUint64Array([0n, 0n, BigInt(ptr(iov)), 1n, BigInt(ptr(control)), 24n, 0n]);
  const n = trySys("recvmsg", t.parentSock, msg, 0);
  if (n <= 0) throw new SysError("receive the container's terminal", n < 0 ? -n : 71);
  const fd = new DataView(control.buffer).getInt32(16, true);
  void read;
  return fd;
}

/** cfmakeraw on the caller's terminal; returns the settings to restore. */
export function makeRaw(fd: number): Uint8Array | null {
  const saved = new Uint8Array(64);
  if (trySys("ioctl", fd, TCGETS, saved) !== 0) return null;
  const raw = saved.slice();
  const dv = new DataView(raw.buffer);
  const iflag = dv.getUint32(0, true) & ~(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400);
  const oflag = dv.getUint32(4, true) & ~0x1;
  const cflag = (dv.getUint32(8, true) & ~(0x30 | 0x100)) | 0x30;
  const lflag = dv.getUint32(12, true) & ~(0x8 | 0x40 | 0x2 | 0x1 | 0x8000);
  dv.setUint32(0, iflag, true);
  dv.setUint32(4, oflag, true);
  dv.setUint32(8, cflag, true);
  dv.setUint32(12, lflag, true);
  raw[17 + 6] = 1; // VMIN
  raw[17 + 5] = 0; // VTIME
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

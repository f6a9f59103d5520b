// Attaching to a detached container. Its waiter (native/waiter.c) listens on
// attach.sock in the container's state directory (reachable by its owner
// only) and serves every client there: the container's output as it comes,
// each message one byte naming the stream and the bytes; and what a client
// sends, each message one byte of type and its bytes: 0, input for the
// container's stdin (or its terminal); 1, a window size (struct winsize).
// The client is this file's relay: the caller's input (watched for the
// detach keys) to the socket, the output to the caller's stdout and stderr,
// and with a terminal the caller's window size whenever it changes.

import { AF_UNIX, O, POLLIN, SIGNALS, SOCK_CLOEXEC, SOCK_SEQPACKET, TIOCGWINSZ } from "../sys/constants";
import { Errno, errnoMessage, SysError } from "../sys/errno";
import { KERNEL_SIGSET_SIZE, POLLFD_LAYOUT as POLLFD } from "../sys/layouts";
import { unixAddress } from "../sys/sockaddr";
import { cstr } from "../sys/fs";
import { closeFd, libcAddress, pipe, setSignalHandler, sys, trySys, writeAll } from "../sys/libc";
import { loadNative } from "../sys/native";
import { syscallNumber } from "../sys/syscalls";
import { BunkerError } from "../errors";
import { log } from "../log";
import { DetachKeys } from "../spec/detach-keys";
import { FORWARDED_SIGNALS } from "./spawn";
import { containerEvent } from "./events";
import { containerDir, type ContainerState } from "./store";
import { isTerminal, makeRaw, restoreTerminal } from "./tty";

export const ATTACH_SOCKET = "attach.sock";

const MESSAGE_MAX = 65536 + 1;

/**
 * The socket a detached container's clients attach on, listening, for its
 * waiter to serve; -1 (said at debug level) where it cannot be made: the
 * container then runs without attach.
 */
export async function listenForAttach(id: string): Promise<number> {
  const path = `${containerDir(id)}/${ATTACH_SOCKET}`;
  const addr = unixAddress(path);
  if (!addr) {
    await log.debug(`no attach socket: ${path} is too long for a socket's address`);
    return -1;
  }
  // One left by a run before this one (a container started again).
  trySys("unlinkat", -100, cstr(path), 0);
  const fd = sys("create the attach socket", "socket", AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  const r = trySys("bind", fd, addr.addr, addr.addr.length);
  const l = r === 0 ? trySys("listen", fd, 8) : r;
  if (l !== 0) {
    closeFd(fd);
    await log.debug(`no attach socket: bind ${path}: ${errnoMessage(-l)}`);
    return -1;
  }
  return fd;
}

export interface AttachOptions {
  /** Pass the caller's input to the container. */
  input: boolean;
  /** The detach key sequence (parseDetachKeys). */
  detachKeys: number[];
  /** Pass the signals the caller receives on to the container (without a terminal). */
  sigProxy: boolean;
}

/**
 * Relays between the caller and running container `s` until its output
 * ends ("ended") or the detach keys are typed ("detached"). The caller's
 * terminal, made raw for a container with one, is restored in any case.
 */
/**
 * Connects to container `s`'s attach socket: the descriptor, or -errno
 * (ENOENT or ECONNREFUSED while nothing listens there).
 */
export function connectAttach(s: ContainerState): number {
  const path = `${containerDir(s.id)}/${ATTACH_SOCKET}`;
  const addr = unixAddress(path);
  if (!addr) throw new BunkerError(`attach to container ${s.name ?? s.id}: ${path} is too long for a socket's address`);
  const sock = sys("create a socket", "socket", AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  const c = trySys("connect", sock, addr.addr, addr.addr.length);
  if (c === 0) return sock;
  closeFd(sock);
  return c;
}

export function attachTo(s: ContainerState, o: AttachOptions, connected?: number): "ended" | "detached" {
  const label = s.name ?? s.id;
  const sock = connected ?? connectAttach(s);
  if (sock === -Errno.ENOENT || sock === -Errno.ECONNREFUSED) throw new BunkerError(`attach to container ${label}: it takes no attachments (it was started by a bunker that stays its supervisor, or has ended)`);
  if (sock < 0) throw new SysError(`attach to container ${label}: connect to its attach socket`, -sock);
  const tty = s.spec.oci.process.terminal === true;
  let winchRead = -1;
  let winchWrite = -1;
  let saved: Uint8Array | null = null;
  const native = loadNative();
  try {
    if (tty) [winchRead, winchWrite] = pipe("create the window-size pipe", O.CLOEXEC | O.NONBLOCK);
    // Signals: SIGWINCH wakes the relay; with --sig-proxy the others go to the container's first process.
    native.forwardInit(libcAddress.syscall, syscallNumber("kill"), syscallNumber("write"), winchWrite, -1);
    native.forwardStarted();
    if (tty) setSignalHandler(SIGNALS.SIGWINCH, native.forwardHandler);
    if (o.sigProxy && !tty && s.pid !== undefined) {
      native.forwardTo(s.pid);
      for (const sig of FORWARDED_SIGNALS) if (sig !== SIGNALS.SIGWINCH) setSignalHandler(sig, native.forwardHandler);
    }
    if (tty && o.input && isTerminal(0)) saved = makeRaw(0);
    const sendSize = () => {
      const ws = new Uint8Array(9);
      ws[0] = 1;
      const from = isTerminal(0) ? 0 : 1;
      if (trySys("ioctl", from, TIOCGWINSZ, ws.subarray(1)) === 0) trySys("write", sock, ws, ws.length);
    };
    if (tty) sendSize();
    containerEvent("attach", s);
    const how = relay(sock, o.input ? 0 : -1, winchRead, o.detachKeys, sendSize);
    if (how === "detached") containerEvent("detach", s);
    return how;
  } finally {
    native.forwardTo(-1);
    restoreTerminal(0, saved);
    for (const fd of [sock, winchRead, winchWrite]) if (fd >= 0) closeFd(fd);
  }
}

function relay(sock: number, input: number, winch: number, keys: number[], sendSize: () => void): "ended" | "detached" {
  const detach = new DetachKeys(keys);
  const buf = new Uint8Array(MESSAGE_MAX);
  const polls = new Uint8Array(3 * POLLFD.SIZE);
  const view = new DataView(polls.buffer);
  let reading = input >= 0;
  for (;;) {
    const fds = [sock, reading ? input : -1, winch];
    fds.forEach((fd, i) => {
      view.setInt32(i * POLLFD.SIZE + POLLFD.fd, fd, true);
      view.setInt16(i * POLLFD.SIZE + POLLFD.events, POLLIN, true);
      view.setInt16(i * POLLFD.SIZE + POLLFD.revents, 0, true);
    });
    const n = trySys("ppoll", polls, 3, null, null, KERNEL_SIGSET_SIZE);
    if (n === -Errno.EINTR) continue;
    if (n < 0) throw new SysError("wait for the container's output or input", -n);
    const ready = (i: number) => view.getInt16(i * POLLFD.SIZE + POLLFD.revents, true) !== 0;
    if (ready(0)) {
      const got = trySys("read", sock, buf, buf.length);
      if (got === -Errno.EINTR || got === -Errno.EAGAIN) continue;
      if (got <= 0) return "ended";
      if (got > 1) writeAll("write the container's output", buf[0] === 2 ? 2 : 1, buf.subarray(1, got));
    }
    if (ready(1)) {
      buf[0] = 0;
      const got = trySys("read", input, buf.subarray(1), 4096);
      if (got === -Errno.EINTR || got === -Errno.EAGAIN) continue;
      if (got <= 0) reading = false;
      else {
        const { pass, detach: done } = detach.feed(buf.subarray(1, 1 + got));
        if (pass.length) {
          const msg = new Uint8Array(pass.length + 1);
          msg.set(pass, 1);
          trySys("write", sock, msg, msg.length);
        }
        if (done) return "detached";
      }
    }
    if (ready(2)) {
      trySys("read", winch, buf, 64);
      sendSize();
    }
  }
}

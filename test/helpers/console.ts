// The client's side of runc's --console-socket: an AF_UNIX listener that
// receives the pseudo-terminal master a runtime sends with SCM_RIGHTS.
// Through libc, since neither Bun nor Node receives descriptors.

import { dlopen, FFIType as T, ptr } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  bind: { args: [T.i32, T.ptr, T.u32], returns: T.i32 },
  listen: { args: [T.i32, T.i32], returns: T.i32 },
  accept4: { args: [T.i32, T.ptr, T.ptr, T.i32], returns: T.i32 },
  recvmsg: { args: [T.i32, T.ptr, T.i32], returns: T.i64_fast },
  close: { args: [T.i32], returns: T.i32 },
  ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 },
  read: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  write: { args: [T.i32, T.ptr, T.u64], returns: T.i64_fast },
  fcntl: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const TIOCGPTN = 0x80045430;

export interface Received {
  /** The data bytes the runtime sent with the descriptor. */
  data: number;
  /** The descriptors in the message (one expected). */
  fds: number[];
  /** The control message's length as sent (go-runc wants CMSG_SPACE(4) = 24). */
  controlLength: number;
}

export class ConsoleSocket {
  readonly fd: number;
  constructor(readonly path: string) {
    this.fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const addr = new Uint8Array(110);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(new TextEncoder().encode(path), 2);
    if (libc.bind(this.fd, ptr(addr), 110) !== 0 || libc.listen(this.fd, 4) !== 0) throw new Error(`listen on ${path} failed`);
  }

  /** Accepts the runtime's connection (already made) and reads its one message. */
  receive(): Received {
    const conn = libc.accept4(this.fd, null, null, SOCK_CLOEXEC);
    if (conn < 0) throw new Error("accept failed");
    try {
      const data = new Uint8Array(64);
      const control = new Uint8Array(64);
      const iov = new BigUint64Array([BigInt(ptr(data)), 64n]);
      const msg = new BigUint64Array([0n, 0n, BigInt(ptr(iov)), 1n, BigInt(ptr(control)), 64n, 0n]);
      const n = Number(libc.recvmsg(conn, ptr(msg), 0x40000000 /* MSG_CMSG_CLOEXEC */));
      if (n < 0) throw new Error("recvmsg failed");
      const controlLength = Number(msg[5]);
      const dv = new DataView(control.buffer);
      const fds: number[] = [];
      if (controlLength >= 16 && dv.getInt32(8, true) === SOL_SOCKET && dv.getInt32(12, true) === SCM_RIGHTS) {
        const len = Number(dv.getBigUint64(0, true));
        for (let off = 16; off + 4 <= len; off += 4) fds.push(dv.getInt32(off, true));
      }
      return { data: n, fds, controlLength };
    } finally {
      libc.close(conn);
    }
  }

  close(): void {
    libc.close(this.fd);
  }
}

/** The terminal's number if `fd` is a pseudo-terminal master, else null. */
export function ptyNumber(fd: number): number | null {
  const n = new Int32Array(1);
  return libc.ioctl(fd, TIOCGPTN, ptr(n)) === 0 ? n[0]! : null;
}

/** Reads from `fd` (non-blocking) until `text` appears or the deadline passes; everything read. */
export async function readUntil(fd: number, text: string, ms = 5000): Promise<string> {
  libc.fcntl(fd, 4 /* F_SETFL */, 0o4000 /* O_NONBLOCK */);
  const buf = new Uint8Array(4096);
  let got = "";
  const end = Date.now() + ms;
  while (!got.includes(text) && Date.now() < end) {
    const n = Number(libc.read(fd, ptr(buf), buf.length));
    if (n > 0) got += new TextDecoder().decode(buf.subarray(0, n));
    else await Bun.sleep(10);
  }
  return got;
}

export function writeFd(fd: number, text: string): void {
  const b = new TextEncoder().encode(text);
  libc.write(fd, ptr(b), b.length);
}

export function closeFd(fd: number): void {
  libc.close(fd);
}

// bpf(2): loading a program and attaching it to a cgroup. The verifier's
// log is asked for only after a load fails, to say why.

import { ptr } from "bun:ffi";
import { Errno, SysError } from "./errno";
import { trySys } from "./libc";

const CMD = { PROG_LOAD: 5, PROG_ATTACH: 8 } as const;
/** union bpf_attr is larger than either command's part; the kernel wants the rest zero. */
const ATTR_SIZE = 128;
const LOG_SIZE = 64 * 1024;

/** A failed load, with what the verifier said (empty when it said nothing). */
export class BpfLoadError extends SysError {
  constructor(
    op: string,
    errno: number,
    readonly verifierLog: string,
  ) {
    super(op, errno);
  }
}

/** BPF_PROG_LOAD: the program's descriptor. `name` is at most 15 bytes (what bpftool shows). */
export function loadProgram(op: string, type: number, insns: Uint8Array, name: string, license = "MIT"): number {
  const bytes = new Uint8Array(ATTR_SIZE);
  const attr = new DataView(bytes.buffer);
  const lic = new TextEncoder().encode(`${license}\0`);
  attr.setUint32(0, type, true); // prog_type
  attr.setUint32(4, insns.length / 8, true); // insn_cnt
  attr.setBigUint64(8, BigInt(ptr(insns)), true); // insns
  attr.setBigUint64(16, BigInt(ptr(lic)), true); // license
  bytes.set(new TextEncoder().encode(name).subarray(0, 15), 48); // prog_name
  let fd = trySys("bpf", CMD.PROG_LOAD, bytes, ATTR_SIZE);
  if (fd >= 0) return fd;
  const errno = -fd;
  // Again with the verifier's log; EACCES and EINVAL are what it rejects programs with.
  let log = "";
  if (errno === Errno.EACCES || errno === Errno.EINVAL) {
    const buf = new Uint8Array(LOG_SIZE);
    attr.setUint32(24, 1, true); // log_level
    attr.setUint32(28, LOG_SIZE, true); // log_size
    attr.setBigUint64(32, BigInt(ptr(buf)), true); // log_buf
    fd = trySys("bpf", CMD.PROG_LOAD, bytes, ATTR_SIZE);
    if (fd >= 0) return fd;
    const end = buf.indexOf(0);
    log = new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end)).trim();
  }
  throw new BpfLoadError(op, errno, log);
}

/** BPF_PROG_ATTACH of `prog` to the object behind `target` (a cgroup directory's descriptor). */
export function attachProgram(op: string, target: number, prog: number, attachType: number, flags: number): void {
  const bytes = new Uint8Array(ATTR_SIZE);
  const attr = new DataView(bytes.buffer);
  attr.setUint32(0, target, true); // target_fd
  attr.setUint32(4, prog, true); // attach_bpf_fd
  attr.setUint32(8, attachType, true); // attach_type
  attr.setUint32(12, flags, true); // attach_flags
  const r = trySys("bpf", CMD.PROG_ATTACH, bytes, ATTR_SIZE);
  if (r < 0) throw new SysError(op, -r);
}

// bpf(2): loading a program and attaching it to a cgroup. The verifier's
// log is asked for only after a load fails, to say why.

import { ptr } from "bun:ffi";
import { BPF_CMD as CMD } from "./constants";
import { Errno, SysError } from "./errno";
import { BPF_INSN_SIZE, BPF_PROG_ATTACH_LAYOUT as ATTACH, BPF_PROG_LOAD_LAYOUT as LOAD } from "./layouts";
import { trySys } from "./libc";

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
  attr.setUint32(LOAD.progType, type, true);
  attr.setUint32(LOAD.insnCnt, insns.length / BPF_INSN_SIZE, true);
  attr.setBigUint64(LOAD.insns, BigInt(ptr(insns)), true);
  attr.setBigUint64(LOAD.license, BigInt(ptr(lic)), true);
  bytes.set(new TextEncoder().encode(name).subarray(0, 15), LOAD.progName);
  let fd = trySys("bpf", CMD.PROG_LOAD, bytes, ATTR_SIZE);
  if (fd >= 0) return fd;
  const errno = -fd;
  // Again with the verifier's log; EACCES and EINVAL are what it rejects programs with.
  let log = "";
  if (errno === Errno.EACCES || errno === Errno.EINVAL) {
    const buf = new Uint8Array(LOG_SIZE);
    attr.setUint32(LOAD.logLevel, 1, true);
    attr.setUint32(LOAD.logSize, LOG_SIZE, true);
    attr.setBigUint64(LOAD.logBuf, BigInt(ptr(buf)), true);
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
  attr.setUint32(ATTACH.targetFd, target, true);
  attr.setUint32(ATTACH.attachBpfFd, prog, true);
  attr.setUint32(ATTACH.attachType, attachType, true);
  attr.setUint32(ATTACH.attachFlags, flags, true);
  const r = trySys("bpf", CMD.PROG_ATTACH, bytes, ATTR_SIZE);
  if (r < 0) throw new SysError(op, -r);
}

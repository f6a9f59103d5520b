// An older kernel, as far as chosen system calls go: a seccomp filter that
// makes them fail with ENOSYS, as on a kernel that predates them, installed
// on every thread (Bun has several) and kept across execve by the program
// run next and by everything it starts. Run as root:
//
//   bun test/helpers/nosys.ts --deny openat2,mount_setattr [--user UID:GID] -- PROGRAM ARGS...
//
// Root installs the filter without no_new_privs, so that a setuid helper
// (newuidmap) still works for a user's bunker; --user then takes that user's
// IDs (groups: the primary one only) just before the execve.

import { dlopen, FFIType, ptr } from "bun:ffi";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";

const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const ENOSYS = 38;
const AUDIT_ARCH = process.arch === "arm64" ? 0xc00000b7 : 0xc000003e;
const ARCH_INDEX = process.arch === "arm64" ? 1 : 0;

const libc = dlopen("libc.so.6", {
  syscall: { args: ["i64", "i64", "i64", "i64"], returns: FFIType.i64_fast },
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
}).symbols;

function fail(what: string): never {
  process.stderr.write(`nosys: ${what}\n`);
  process.exit(125);
}

function nr(name: string): number {
  const n = SYSCALL_TABLE[name]?.[ARCH_INDEX];
  if (n === undefined || n < 0) fail(`no system call ${name} on ${process.arch}`);
  return n;
}

const args = process.argv.slice(2);
const sep = args.indexOf("--");
if (sep < 0 || sep === args.length - 1) fail("usage: nosys.ts --deny CALL,... [--user UID:GID] -- PROGRAM ARGS...");
const opts = args.slice(0, sep);
const command = args.slice(sep + 1);
const deny = (opts[opts.indexOf("--deny") + 1] ?? "").split(",").filter(Boolean).map(nr);
const user = opts.includes("--user") ? opts[opts.indexOf("--user") + 1]!.split(":").map(Number) : undefined;

// struct sock_filter { u16 code; u8 jt, jf; u32 k }
const insns: [number, number, number, number][] = [];
insns.push([0x20, 0, 0, 4]); // ld [arch]
insns.push([0x15, 0, deny.length + 1, AUDIT_ARCH]); // another architecture: allow
insns.push([0x20, 0, 0, 0]); // ld [nr]
deny.forEach((n, i) => insns.push([0x15, deny.length - i, 0, n])); // jeq -> the ENOSYS return
insns.push([0x06, 0, 0, SECCOMP_RET_ALLOW]);
insns.push([0x06, 0, 0, SECCOMP_RET_ERRNO | ENOSYS]);
const filter = new DataView(new ArrayBuffer(insns.length * 8));
insns.forEach(([code, jt, jf, k], i) => {
  filter.setUint16(i * 8, code, true);
  filter.setUint8(i * 8 + 2, jt);
  filter.setUint8(i * 8 + 3, jf);
  filter.setUint32(i * 8 + 4, k, true);
});
const fprog = new BigUint64Array([BigInt(insns.length), BigInt(ptr(new Uint8Array(filter.buffer)))]);

if (libc.syscall(nr("seccomp"), SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ptr(fprog)) !== 0) fail("seccomp: the filter was refused (run as root)");

if (user) {
  const [uid, gid] = user as [number, number];
  // Raw calls change this thread's credentials only: the one that execs, which is all the program gets.
  if (libc.syscall(nr("setgroups"), 1, ptr(new Uint32Array([gid])), 0) !== 0) fail("setgroups");
  if (libc.syscall(nr("setresgid"), gid, gid, gid) !== 0) fail("setresgid");
  if (libc.syscall(nr("setresuid"), uid, uid, uid) !== 0) fail("setresuid");
}

const keep: Uint8Array[] = [];
const cstr = (s: string) => {
  const b = new TextEncoder().encode(`${s}\0`);
  keep.push(b);
  return BigInt(ptr(b));
};
const vec = (items: string[]) => new BigUint64Array([...items.map(cstr), 0n]);
const argv = vec(command);
const envp = vec(Object.entries(process.env).map(([k, v]) => `${k}=${v}`));
libc.execve(ptr(new TextEncoder().encode(`${command[0]}\0`)), ptr(argv), ptr(envp));
fail(`execve ${command[0]} failed`);

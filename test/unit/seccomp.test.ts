// The seccomp compiler, run through the BPF interpreter (no kernel needed).

import { describe, expect, test } from "bun:test";
import { encode, RET, run } from "../../src/security/seccomp/bpf";
import { compile } from "../../src/security/seccomp/compile";
import { CLONE_NAMESPACE_FLAGS, defaultProfile, parseProfile } from "../../src/security/seccomp/profile";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";
import type { Arch } from "../../src/sys/syscalls";

const ARCH: Record<Arch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const EPERM = (RET.ERRNO | 1) >>> 0;
const ENOSYS = (RET.ERRNO | 38) >>> 0;
const DEFAULT_CAPS = ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT", "CAP_KILL"];

for (const arch of ["x86_64", "aarch64"] as const) {
  describe(`the default profile on ${arch}`, () => {
    const prog = compile(defaultProfile(), { arch, caps: DEFAULT_CAPS });
    const nr = (name: string) => SYSCALL_TABLE[name]![arch === "x86_64" ? 0 : 1];
    const call = (name: string, ...args: bigint[]) => run(prog, { nr: nr(name), arch: ARCH[arch], args });

    test("allows what a shell and busybox need", () => {
      for (const name of ["read", "write", "openat", "execve", "wait4", "rt_sigaction", "mmap", "exit_group", "getdents64", "pipe2", "dup3", "chroot"]) {
        expect([name, call(name)]).toEqual([name, RET.ALLOW]);
      }
      expect(encode(prog).length).toBe(prog.length * 8);
    });

    test("refuses mount, unshare, setns, keyctl, bpf, ptrace, reboot with EPERM", () => {
      for (const name of ["mount", "unshare", "setns", "keyctl", "add_key", "bpf", "ptrace", "reboot", "init_module", "open_by_handle_at"]) {
        expect([name, call(name)]).toEqual([name, EPERM]);
      }
    });

    test("clone without namespace flags only; clone3 says ENOSYS so libc falls back", () => {
      expect(call("clone", 0x01200011n)).toBe(RET.ALLOW); // fork-like flags
      expect(call("clone", BigInt(0x01200011 | 0x40000000))).toBe(EPERM); // + CLONE_NEWNET
      expect(call("clone", BigInt(CLONE_NAMESPACE_FLAGS))).toBe(EPERM);
      expect(call("clone3")).toBe(ENOSYS);
    });

    test("personality only for the harmless personas; socket except AF_VSOCK", () => {
      expect(call("personality", 0n)).toBe(RET.ALLOW);
      expect(call("personality", 0xffffffffn)).toBe(RET.ALLOW);
      expect(call("personality", 0x0040000n)).toBe(EPERM); // ADDR_COMPAT_LAYOUT
      expect(call("socket", 2n)).toBe(RET.ALLOW);
      expect(call("socket", 40n)).toBe(EPERM);
      // An int argument: the kernel ignores the upper half, so the filter must too.
      expect(call("socket", (1n << 32n) | 40n)).toBe(EPERM);
      expect(call("socket", (1n << 32n) | 2n)).toBe(RET.ALLOW);
    });

    test("ioctl except TIOCSTI and TIOCLINUX, which type into a terminal", () => {
      const TIOCSTI = 0x5412n;
      const TIOCLINUX = 0x541cn;
      expect(call("ioctl", 0n, TIOCSTI)).toBe(EPERM);
      expect(call("ioctl", 0n, TIOCLINUX)).toBe(EPERM);
      // The request is an unsigned int: garbage in the upper half does not get past the filter.
      expect(call("ioctl", 0n, (1n << 32n) | TIOCSTI)).toBe(EPERM);
      expect(call("ioctl", 0n, (0xffffffffn << 32n) | TIOCLINUX)).toBe(EPERM);
      for (const req of [0x5401n /* TCGETS */, 0x5413n /* TIOCGWINSZ */, 0x540en /* TIOCSCTTY */, 0x5411n, 0x5413n]) {
        expect([req, call("ioctl", 0n, req)]).toEqual([req, RET.ALLOW]);
      }
    });

    test("a foreign architecture is refused before anything else", () => {
      const other = arch === "x86_64" ? ARCH.aarch64 : ARCH.x86_64;
      expect(run(prog, { nr: nr("read"), arch: other })).toBe(EPERM);
    });

    test("capabilities unlock their calls", () => {
      const admin = compile(defaultProfile(), { arch, caps: [...DEFAULT_CAPS, "CAP_SYS_ADMIN"] });
      expect(run(admin, { nr: nr("mount"), arch: ARCH[arch] })).toBe(RET.ALLOW);
      expect(run(admin, { nr: nr("clone"), arch: ARCH[arch], args: [BigInt(CLONE_NAMESPACE_FLAGS)] })).toBe(RET.ALLOW);
      const ptrace = compile(defaultProfile(), { arch, caps: ["CAP_SYS_PTRACE"] });
      expect(run(ptrace, { nr: nr("ptrace"), arch: ARCH[arch] })).toBe(RET.ALLOW);
    });
  });
}

test("x32 system calls are refused on x86_64", () => {
  const prog = compile(defaultProfile(), { arch: "x86_64", caps: [] });
  expect(run(prog, { nr: 0x40000000 | 0, arch: ARCH.x86_64 })).toBe(EPERM);
});

describe("the default profile's numbers on aarch64", () => {
  test("stat reaches the kernel: glibc's stat, lstat and fstatat are newfstatat there, number 79", () => {
    const prog = compile(defaultProfile(), { arch: "aarch64", caps: DEFAULT_CAPS });
    expect(run(prog, { nr: 79, arch: ARCH.aarch64 })).toBe(RET.ALLOW);
    // fstat (80) and statx (291) beside it, as a control.
    expect([run(prog, { nr: 80, arch: ARCH.aarch64 }), run(prog, { nr: 291, arch: ARCH.aarch64 })]).toEqual([RET.ALLOW, RET.ALLOW]);
  });
});

describe("JSON profiles", () => {
  const profile = parseProfile(
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
        { names: ["kill"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 9, op: "SCMP_CMP_EQ" }] },
        { names: ["write"], action: "SCMP_ACT_KILL_PROCESS", args: [{ index: 2, value: 4096, op: "SCMP_CMP_GT" }] },
        { names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: 5, args: [{ index: 2, value: 0x100000000, op: "SCMP_CMP_GE" }] },
        { names: ["lseek"], action: "SCMP_ACT_LOG", args: [{ index: 1, value: 10, op: "SCMP_CMP_LT" }, { index: 2, value: 0, op: "SCMP_CMP_NE" }] },
        { names: ["ptrace"], action: "SCMP_ACT_ERRNO", includes: { caps: ["CAP_SYS_PTRACE"] } },
        { names: ["unshare"], action: "SCMP_ACT_ERRNO", excludes: { arches: ["amd64"] } },
      ],
    }),
    "test profile",
  );
  const prog = compile(profile, { arch: "x86_64", caps: [] });
  const nr = (n: string) => SYSCALL_TABLE[n]![0];
  const call = (n: string, ...args: bigint[]) => run(prog, { nr: nr(n), arch: ARCH.x86_64, args });

  test("actions, errno values and 64-bit argument comparisons", () => {
    expect(call("mkdirat")).toBe((RET.ERRNO | 13) >>> 0);
    expect(call("kill", 1n, 9n)).toBe(EPERM);
    expect(call("kill", 1n, 15n)).toBe(RET.ALLOW);
    expect(call("write", 1n, 0n, 4097n)).toBe(RET.KILL_PROCESS);
    expect(call("write", 1n, 0n, 4096n)).toBe(RET.ALLOW);
    expect(call("read", 0n, 0n, 0xffffffffn)).toBe(RET.ALLOW);
    expect(call("read", 0n, 0n, 0x100000000n)).toBe((RET.ERRNO | 5) >>> 0);
    expect(call("lseek", 0n, 9n, 1n)).toBe(RET.LOG);
    expect(call("lseek", 0n, 9n, 0n)).toBe(RET.ALLOW);
    expect(call("lseek", 0n, 10n, 1n)).toBe(RET.ALLOW);
  });

  test("includes and excludes by capability and architecture", () => {
    expect(call("ptrace")).toBe(RET.ALLOW);
    expect(call("unshare")).toBe(RET.ALLOW);
    const aarch = compile(profile, { arch: "aarch64", caps: ["CAP_SYS_PTRACE"] });
    expect(run(aarch, { nr: SYSCALL_TABLE.unshare![1], arch: ARCH.aarch64 })).toBe(EPERM);
    expect(run(aarch, { nr: SYSCALL_TABLE.ptrace![1], arch: ARCH.aarch64 })).toBe(EPERM);
  });

  test("bad profiles are named errors", () => {
    expect(() => parseProfile("{", "p.json")).toThrow(/^p.json: not JSON/);
    expect(() => parseProfile('{"defaultAction":"SCMP_ACT_NOPE","syscalls":[]}', "p.json")).toThrow("defaultAction must be one of");
    expect(() => parseProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}', "p.json")).toThrow("argument index 7");
  });
});

test("mknod makes FIFOs, sockets and files, never device nodes", () => {
  const prog = compile(defaultProfile(), { arch: "x86_64", caps: ["CAP_MKNOD"] });
  const mknodat = (mode: number) => run(prog, { nr: SYSCALL_TABLE.mknodat![0], arch: ARCH.x86_64, args: [0n, 0n, BigInt(mode), 0n] });
  expect(mknodat(0o010644)).toBe(RET.ALLOW);
  expect(mknodat(0o140644)).toBe(RET.ALLOW);
  expect(mknodat(0o100644)).toBe(RET.ALLOW);
  expect(mknodat(0o060644)).toBe(EPERM);
  expect(mknodat(0o020644)).toBe(EPERM);
});

test("argument values keep all 64 bits, even past 2^53", () => {
  const p = parseProfile(
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]},' +
      '{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":18446744073709551615,"valueTwo":9007199254740993,"op":"SCMP_CMP_MASKED_EQ"}]}]}',
    "p.json",
  );
  const prog = compile(p, { arch: "x86_64", caps: [] });
  const kill = (pid: bigint) => run(prog, { nr: SYSCALL_TABLE.kill![0], arch: ARCH.x86_64, args: [pid] });
  expect(kill(BigInt.asUintN(64, -1n))).toBe(EPERM);
  expect(kill(0n)).toBe(RET.ALLOW);
  // 2^53 + 1, which a JSON number would round to 2^53.
  const read = (n: bigint) => run(prog, { nr: SYSCALL_TABLE.read![0], arch: ARCH.x86_64, args: [0n, 0n, n] });
  expect(read(0x20000000000001n)).toBe(EPERM);
  expect(read(0x20000000000000n)).toBe(RET.ALLOW);
});

test("a system call with more argument rules than a conditional jump reaches is skipped with JA", () => {
  const many = Array.from({ length: 80 }, (_, i) => ({ index: 0, value: i * 2, op: "SCMP_CMP_EQ" }));
  const rules = many.map((a) => ({ names: ["personality"], action: "SCMP_ACT_ALLOW", args: [a] }));
  const p = parseProfile(JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [...rules, { names: ["getpid"], action: "SCMP_ACT_ALLOW" }] }), "p.json");
  const prog = compile(p, { arch: "x86_64", caps: [] });
  expect(prog.some((i) => i.code === 0x05)).toBe(true);
  const personality = (v: bigint) => run(prog, { nr: SYSCALL_TABLE.personality![0], arch: ARCH.x86_64, args: [v] });
  expect(personality(158n)).toBe(RET.ALLOW);
  expect(personality(159n)).toBe(EPERM);
  expect(run(prog, { nr: SYSCALL_TABLE.getpid![0], arch: ARCH.x86_64, args: [] })).toBe(RET.ALLOW);
  expect(run(prog, { nr: SYSCALL_TABLE.getppid![0], arch: ARCH.x86_64, args: [] })).toBe(EPERM);
});

test("malformed values in a profile are one-line errors", () => {
  const bad = (rule: string) => () => parseProfile(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[${rule}]}`, "p.json");
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1.5,"op":"SCMP_CMP_EQ"}]}')).toThrow("p.json: syscalls[0]: value 1.5 is not a 64-bit integer");
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":"x","op":"SCMP_CMP_EQ"}]}')).toThrow('value "x" is not a 64-bit integer');
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":null,"op":"SCMP_CMP_EQ"}]}')).toThrow("value null is not");
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","args":{}}')).toThrow("args must be a list");
  expect(bad("null")).toThrow("syscalls[0]: not an object");
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","includes":{"caps":"CAP_X"}}')).toThrow("includes must be an object with lists");
  expect(bad('{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":-3}')).toThrow("errnoRet -3 is not an errno number");
});

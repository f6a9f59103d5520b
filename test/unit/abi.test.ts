// The kernel ABI bunker uses, checked per architecture against the kernel's
// and glibc's own headers for that architecture (Debian's linux-libc-dev and
// libc6-dev for x86_64; linux-libc-dev-arm64-cross and libc6-dev-arm64-cross
// for aarch64), through each architecture's compiler (abi-c.ts): every
// constant and struct layout in src/sys/constants.ts and src/sys/layouts.ts,
// the system call numbers of src/sys/syscalls.ts and syscall-table.ts, the
// numbers native/*.c hard-codes, and the seccomp filter built for each
// architecture. No value is written out here.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childLayoutHeader } from "../../native/layout";
import * as constants from "../../src/sys/constants";
import * as layouts from "../../src/sys/layouts";
import { syscallNames, syscallNumber } from "../../src/sys/syscalls";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";
import { compile } from "../../src/security/seccomp/compile";
import { defaultProfile } from "../../src/security/seccomp/profile";
import { BPF, RET, run } from "../../src/security/seccomp/bpf";
import { OP as EBPF } from "../../src/cgroups/devicefilter";
import { CAPABILITIES, DEFAULT_CAPS } from "../../src/security/caps";
import { RLIMITS } from "../../src/security/plan";
import { SCHED_FLAG, SCHED_POLICY } from "../../src/spec/sched";
import { Errno } from "../../src/sys/errno";
import { ARCHES, cValues, macroNames, ownMacros, unavailable, type Arch } from "./abi-c";
import { cName, LAYOUTS, layoutExpr, NEWER_THAN_HEADERS, SIZES, unit, whereIs, type Where } from "./abi-names";

const why = unavailable();
if (why) console.warn(`skipping the ABI checks against the headers: ${why}`);

const norm = (v: number | bigint) => BigInt.asIntN(64, BigInt(v));

/** Every number constants.ts exports, by C name, with its value for `arch`. */
function ownConstants(arch: Arch): Map<string, { value: bigint; where: Where; from: string }> {
  const out = new Map<string, { value: bigint; where: Where; from: string }>();
  const add = (c: string, v: number | bigint, from: string) => out.set(c, { value: norm(v), where: whereIs(c), from });
  for (const [name, v] of Object.entries(constants)) {
    if (name === "openFlags" || name === "makedev") continue;
    if (name === "O") {
      // The running machine's: checked through openFlags(arch) below.
      for (const [k, x] of Object.entries(constants.openFlags(arch))) add(`O_${k}`, x, `openFlags("${arch}").${k}`);
    } else if (name === "AUDIT_ARCH") {
      add(`AUDIT_ARCH_${arch.toUpperCase()}`, constants.AUDIT_ARCH[arch], `AUDIT_ARCH.${arch}`);
    } else if (name === "X32_SYSCALL_BIT") {
      if (arch === "x86_64") add(cName(name), v as number, name);
    } else if (typeof v === "number" || typeof v === "bigint") {
      add(cName(name), v, name);
    } else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x !== "number" && typeof x !== "bigint") throw new Error(`constants.${name}.${k} is not a number`);
        add(cName(name, k), x, `${name}.${k}`);
      }
    } else throw new Error(`constants.${name}: neither a number nor a table of numbers`);
  }
  return out;
}

/** The header's value of each C name in `names`, compiled where it lives. */
function headerValues(arch: Arch, names: Iterable<[string, Where]>): Map<string, bigint> {
  const by: Record<Where, Record<string, string | { expr: string; ifdef: string }>> = { kernel: {}, libc: {} };
  for (const [c, where] of names) by[where][c] = NEWER_THAN_HEADERS.has(c) ? { expr: c, ifdef: c } : c;
  return new Map([...cValues(arch, unit("kernel", by.kernel)), ...cValues(arch, unit("libc", by.libc))]);
}

/** Every __NR_ name the architecture's asm/unistd.h defines, with its number. */
function syscallHeader(arch: Arch): Map<string, number> {
  const names = macroNames(arch, ["<asm/unistd.h>"], /^__NR_/).filter((n) => n !== "__NR_syscalls" && n !== "__NR_arch_specific_syscall");
  const v = cValues(arch, { headers: ["<asm/unistd.h>"], values: Object.fromEntries(names.map((n) => [n.slice(5), n])) });
  return new Map([...v].map(([k, x]) => [k, Number(x)]));
}

const NATIVE = join(import.meta.dir, "../../native");
/** The native macros that name no single macro of libc's: what each stands for. */
const NATIVE_SPECIAL: Record<string, string> = {
  WALL_: "__WALL",
  P_PID_: "(int)P_PID",
  KERNEL_SIGSET_SIZE_: "_NSIG / 8",
  SIGACTION_LONGS_: "sizeof(struct sigaction) / sizeof(long)",
  SIGINFO_LONGS_: "sizeof(siginfo_t) / sizeof(long)",
  SIGINFO_PID_: "offsetof(siginfo_t, si_pid)",
};

describe.skipIf(why !== null)("the ABI, read from each architecture's headers", () => {
  for (const arch of ARCHES) {
    describe(arch, () => {
      test("every constant in src/sys/constants.ts has the header's value", () => {
        const own = ownConstants(arch);
        const header = headerValues(arch, [...own].map(([c, o]) => [c, o.where]));
        const newer = [...NEWER_THAN_HEADERS].filter((c) => own.has(c) && !header.has(c));
        if (newer.length) console.warn(`skipping ${arch}'s ${newer.join(", ")}: newer than this machine's headers`);
        const wrong = [...own].filter(([c, o]) => !newer.includes(c) && header.get(c) !== o.value).map(([c, o]) => `${o.from} = ${o.value}, ${c} = ${header.get(c)}`);
        expect(wrong).toEqual([]);
        expect(own.size).toBeGreaterThan(150);
      });

      test("the tables kept beside their users: capabilities, rlimits, scheduler policies and flags, errno values", () => {
        // src/spec/ may not import src/sys/, and capabilities and rlimits are named by the spec: these live there.
        const own = new Map<string, { value: bigint; where: Where }>();
        CAPABILITIES.forEach((c, i) => own.set(`CAP_${c}`, { value: BigInt(i), where: "kernel" }));
        for (const [n, v] of Object.entries(RLIMITS)) own.set(`RLIMIT_${n.toUpperCase()}`, { value: BigInt(v), where: "libc" });
        for (const [n, v] of [...Object.entries(SCHED_POLICY), ...Object.entries(SCHED_FLAG)]) own.set(n, { value: BigInt(v), where: "kernel" });
        for (const [n, v] of Object.entries(Errno)) own.set(n, { value: BigInt(v), where: "libc" });
        const by: Record<Where, Record<string, string>> = { kernel: {}, libc: {} };
        // The kernel calls SCHED_OTHER SCHED_NORMAL.
        for (const [c, o] of own) by[o.where][c] = c === "SCHED_OTHER" ? "SCHED_NORMAL" : c;
        by.kernel.CAP_LAST_CAP = "CAP_LAST_CAP";
        const header = new Map([...cValues(arch, unit("kernel", by.kernel)), ...cValues(arch, { ...unit("libc", by.libc), headers: [...unit("libc", {}).headers, "<errno.h>"] })]);
        const wrong = [...own].filter(([c, o]) => header.get(c) !== o.value).map(([c, o]) => `${c} = ${o.value}, the header's ${header.get(c)}`);
        expect(wrong).toEqual([]);
        // Every capability the headers know has its name.
        expect(header.get("CAP_LAST_CAP")).toBe(BigInt(CAPABILITIES.length - 1));
      });

      test("the seccomp filter's and the device program's instruction encodings and return values", () => {
        const exprs: Record<string, string> = {
          "BPF.LD_W_ABS": "BPF_LD | BPF_W | BPF_ABS",
          "BPF.ALU_AND_K": "BPF_ALU | BPF_AND | BPF_K",
          "BPF.JMP_JA": "BPF_JMP | BPF_JA",
          "BPF.JEQ_K": "BPF_JMP | BPF_JEQ | BPF_K",
          "BPF.JGT_K": "BPF_JMP | BPF_JGT | BPF_K",
          "BPF.JGE_K": "BPF_JMP | BPF_JGE | BPF_K",
          "BPF.JSET_K": "BPF_JMP | BPF_JSET | BPF_K",
          "BPF.RET_K": "BPF_RET | BPF_K",
          "EBPF.LDX_W": "BPF_LDX | BPF_W | BPF_MEM",
          "EBPF.AND32_K": "BPF_ALU | BPF_AND | BPF_K",
          "EBPF.RSH32_K": "BPF_ALU | BPF_RSH | BPF_K",
          "EBPF.MOV32_K": "BPF_ALU | BPF_MOV | BPF_K",
          "EBPF.MOV32_X": "BPF_ALU | BPF_MOV | BPF_X",
          "EBPF.JEQ_K": "BPF_JMP | BPF_JEQ | BPF_K",
          "EBPF.JNE_K": "BPF_JMP | BPF_JNE | BPF_K",
          "EBPF.JSET_K": "BPF_JMP | BPF_JSET | BPF_K",
          "EBPF.EXIT": "BPF_JMP | BPF_EXIT",
          ...Object.fromEntries(Object.keys(RET).map((k) => [`RET.${k}`, `SECCOMP_RET_${k}`])),
        };
        const own: Record<string, number> = {
          ...Object.fromEntries(Object.entries(BPF).map(([k, v]) => [`BPF.${k}`, v])),
          ...Object.fromEntries(Object.entries(EBPF).map(([k, v]) => [`EBPF.${k}`, v])),
          ...Object.fromEntries(Object.entries(RET).map(([k, v]) => [`RET.${k}`, v])),
        };
        expect(Object.keys(own).sort()).toEqual(Object.keys(exprs).sort());
        const header = cValues(arch, unit("kernel", exprs));
        const wrong = Object.entries(own).filter(([k, v]) => header.get(k) !== BigInt(v)).map(([k, v]) => `${k} = ${v}, ${exprs[k]} = ${header.get(k)}`);
        expect(wrong).toEqual([]);
      });

      test("makedev lays a device number out as glibc's makedev does", () => {
        const pairs = [[1, 3], [8, 17], [4095, 255], [4096, 256], [0xfffff, 0xfffff], [136, 1000000]] as const;
        const values = Object.fromEntries(pairs.map(([a, b], i) => [`d${i}`, `makedev(${a}u, ${b}u)`]));
        const header = cValues(arch, { ...unit("libc", values), optimize: true });
        for (const [i, [a, b]] of pairs.entries()) expect([a, b, norm(constants.makedev(a, b))]).toEqual([a, b, header.get(`d${i}`)!]);
      });

      test("every struct layout in src/sys/layouts.ts has the header's offsets and size", () => {
        const exprs: Record<Where, Record<string, string>> = { kernel: {}, libc: {} };
        const own = new Map<string, bigint>();
        const alone = new Map<string, bigint>();
        for (const [name, value] of Object.entries(layouts)) {
          if (typeof value === "number") {
            const size = SIZES[name];
            if (!size) throw new Error(`layouts.${name}: no C expression for it in abi-names.ts`);
            if (typeof size.where === "string") exprs[size.where][name] = size.expr;
            else for (const [k, v] of cValues(arch, { headers: size.where.headers, values: { [name]: size.expr } })) alone.set(k, v);
            own.set(name, norm(value));
            continue;
          }
          const l = LAYOUTS[name];
          if (!l) throw new Error(`layouts.${name}: no C struct for it in abi-names.ts`);
          for (const [member, v] of Object.entries(value as Record<string, number>)) {
            exprs[l.where][`${name}.${member}`] = layoutExpr(l, member);
            own.set(`${name}.${member}`, norm(v));
          }
        }
        const header = new Map([...cValues(arch, unit("kernel", exprs.kernel)), ...cValues(arch, unit("libc", exprs.libc)), ...alone]);
        const wrong = [...own].filter(([k, v]) => header.get(k) !== v).map(([k, v]) => `${k} = ${v}, the header's ${header.get(k)}`);
        expect(wrong).toEqual([]);
      });

      test("bunker's system call numbers (syscalls.ts) are the architecture's", () => {
        const header = syscallHeader(arch);
        const wrong = syscallNames.filter((n) => syscallNumber(n, arch) !== header.get(n)).map((n) => `${n} = ${syscallNumber(n, arch)}, the header's ${header.get(n) ?? "none"}`);
        expect(wrong).toEqual([]);
      });

      test("the seccomp table has every call of the architecture, and none it lacks", () => {
        const header = syscallHeader(arch);
        const i = arch === "x86_64" ? 0 : 1;
        const wrong = Object.entries(SYSCALL_TABLE)
          .filter(([n, nrs]) => nrs[i] !== (header.get(n) ?? -1))
          .map(([n, nrs]) => `${n} = ${nrs[i]}, the header's ${header.get(n) ?? "none"}`);
        expect(wrong).toEqual([]);
        expect([...header.keys()].filter((n) => !(n in SYSCALL_TABLE))).toEqual([]);
      });

      test("the numbers native/*.c hard-codes (NR_X, NAME_) are the headers'", () => {
        const sources = readdirSync(NATIVE).filter((f) => /\.[ch]$/.test(f));
        const exprs: Record<string, string> = {};
        const own: Record<string, string> = {};
        for (const f of sources) {
          const text = readFileSync(join(NATIVE, f), "utf8");
          for (const m of ownMacros(text, /^(NR_[A-Z0-9_]+|[A-Z][A-Z0-9_]*_)$/)) {
            // NR_X is __NR_x; NAME_ is libc's NAME (WALL_ is __WALL).
            const c = m.startsWith("NR_") ? `__NR_${m.slice(3).toLowerCase()}` : (NATIVE_SPECIAL[m] ?? m.slice(0, -1));
            own[`${f}:${m}`] = m;
            exprs[`${f}:${m}`] = c;
          }
        }
        expect(Object.keys(own).length).toBeGreaterThan(40);
        // The native values, as the architecture's compiler sees native/ (its #if blocks per architecture);
        // only the plain macros: a file's own, nolibc.h's and logfile.h's.
        const nativeValues = new Map<string, bigint>();
        // child.c's generated header, where its #include finds it.
        const generated = mkdtempSync(join(tmpdir(), "bunker-abi-native-"));
        try {
          writeFileSync(join(generated, "child-layout.h"), childLayoutHeader());
          for (const f of sources) {
            const mine = Object.entries(own).filter(([k]) => k.startsWith(`${f}:`));
            if (!mine.length) continue;
            const v = cValues(arch, { headers: [], prelude: [`#include "${join(NATIVE, f)}"`], includeDirs: [generated], values: Object.fromEntries(mine.map(([k, m]) => [k, m])) });
            for (const [k, x] of v) nativeValues.set(k, x);
          }
        } finally {
          rmSync(generated, { recursive: true, force: true });
        }
        const header = cValues(arch, {
          headers: ["<stddef.h>", "<fcntl.h>", "<signal.h>", "<sys/wait.h>", "<sys/prctl.h>", "<time.h>", "<poll.h>", "<sys/socket.h>", "<sys/ioctl.h>", "<sys/file.h>", "<errno.h>", "<sys/syscall.h>", "<unistd.h>"],
          prelude: ["#define _GNU_SOURCE"],
          values: Object.fromEntries(Object.entries(exprs).map(([k, c]) => [k, /^\w+$/.test(c) ? { expr: c, ifdef: c } : c])),
        });
        const wrong = Object.keys(own)
          .filter((k) => nativeValues.get(k) === undefined || header.get(k) !== nativeValues.get(k))
          .map((k) => `${k} = ${nativeValues.get(k)}, ${exprs[k]} = ${header.get(k) ?? "not defined"}`);
        expect(wrong).toEqual([]);
      });

      test("a profile's calls the architecture lacks (open, stat, dup2, fork, ...) are skipped there, never given another call's number", () => {
        const header = syscallHeader(arch);
        const legacy = ["open", "stat", "lstat", "mkdir", "dup2", "fork", "pipe", "poll", "access", "rename", "unlink"];
        const prog = compile({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: legacy, action: "SCMP_ACT_ALLOW" }] }, { arch, caps: [] });
        const audit = Number(headerValues(arch, [[`AUDIT_ARCH_${arch.toUpperCase()}`, "kernel"]]).get(`AUDIT_ARCH_${arch.toUpperCase()}`)!);
        const allowed = [...header].filter(([, nr]) => run(prog, { nr, arch: audit, args: [] }) === RET.ALLOW).map(([name]) => name).sort();
        expect(allowed).toEqual(legacy.filter((n) => header.has(n)).sort());
        if (arch === "aarch64") expect(allowed).toEqual([]);
      });

      test("the structs native/*.c lays out itself (pollfd, msghdr, iovec) match the headers'", () => {
        const pollfd = { "sizeof(struct pollfd_)": "sizeof(struct pollfd)", "offsetof(struct pollfd_, events)": "offsetof(struct pollfd, events)", "offsetof(struct pollfd_, revents)": "offsetof(struct pollfd, revents)" };
        const structs: Record<string, Record<string, string>> = {
          "child.c": pollfd,
          "health.c": pollfd,
          "waiter.c": {
            ...pollfd,
            "sizeof(struct iovec_)": "sizeof(struct iovec)",
            "offsetof(struct iovec_, len)": "offsetof(struct iovec, iov_len)",
            "sizeof(struct msghdr_)": "sizeof(struct msghdr)",
            "offsetof(struct msghdr_, namelen)": "offsetof(struct msghdr, msg_namelen)",
            "offsetof(struct msghdr_, iov)": "offsetof(struct msghdr, msg_iov)",
            "offsetof(struct msghdr_, iovlen)": "offsetof(struct msghdr, msg_iovlen)",
            "offsetof(struct msghdr_, control)": "offsetof(struct msghdr, msg_control)",
            "offsetof(struct msghdr_, controllen)": "offsetof(struct msghdr, msg_controllen)",
            "offsetof(struct msghdr_, flags)": "offsetof(struct msghdr, msg_flags)",
          },
        };
        const generated = mkdtempSync(join(tmpdir(), "bunker-abi-native-"));
        try {
          writeFileSync(join(generated, "child-layout.h"), childLayoutHeader());
          for (const [f, pairs] of Object.entries(structs)) {
            const keys = Object.keys(pairs);
            const mine = cValues(arch, { headers: [], prelude: [`#include "${join(NATIVE, f)}"`, "#include <stddef.h>"], includeDirs: [generated], values: Object.fromEntries(keys.map((k, i) => [`v${i}`, k])) });
            const theirs = cValues(arch, { headers: ["<poll.h>", "<sys/socket.h>", "<sys/uio.h>"], prelude: ["#define _GNU_SOURCE"], values: Object.fromEntries(keys.map((k, i) => [`v${i}`, pairs[k]!])) });
            const wrong = keys.filter((k, i) => mine.get(`v${i}`) === undefined || mine.get(`v${i}`) !== theirs.get(`v${i}`)).map((k) => `${f}: ${k} = ${mine.get(`v${keys.indexOf(k)}`)}, ${pairs[k]} = ${theirs.get(`v${keys.indexOf(k)}`)}`);
            expect(wrong).toEqual([]);
          }
        } finally {
          rmSync(generated, { recursive: true, force: true });
        }
      });

      test("the default seccomp filter checks this architecture and lets libc's calls through by its numbers", () => {
        const header = syscallHeader(arch);
        const audit = headerValues(arch, [[`AUDIT_ARCH_${arch.toUpperCase()}`, "kernel"]]).get(`AUDIT_ARCH_${arch.toUpperCase()}`)!;
        const other = ARCHES.find((a) => a !== arch)!;
        const otherAudit = headerValues(other, [[`AUDIT_ARCH_${other.toUpperCase()}`, "kernel"]]).get(`AUDIT_ARCH_${other.toUpperCase()}`)!;
        const prog = compile(defaultProfile(), { arch, caps: DEFAULT_CAPS.map((c) => `CAP_${c}`) });
        const verdict = (name: string, a = audit) => run(prog, { nr: header.get(name)!, arch: Number(a), args: [] });
        const EPERM = (RET.ERRNO | 1) >>> 0;
        // What glibc's stat, fstat, open, pipe and dup2 become on each architecture: newfstatat, fstat, openat, pipe2, dup3.
        for (const name of ["newfstatat", "fstat", "openat", "pipe2", "dup3", "execve", "wait4", "statx", "name_to_handle_at", "getdents64"]) {
          expect([name, verdict(name)]).toEqual([name, RET.ALLOW]);
        }
        for (const name of ["mount", "unshare", "reboot", "open_by_handle_at", "kexec_load"]) expect([name, verdict(name)]).toEqual([name, EPERM]);
        // The same number from the other architecture is refused: the filter checks the audit arch first.
        expect(verdict("openat", otherAudit)).toBe(EPERM);
      });
    });
  }

  test("the values that differ between x86_64 and aarch64 are the ones constants.ts's header names", () => {
    const x = ownConstants("x86_64");
    const a = ownConstants("aarch64");
    const differ = [...x.keys()].filter((c) => a.has(c) && a.get(c)!.value !== x.get(c)!.value).sort();
    expect(differ).toEqual(["O_DIRECTORY", "O_NOFOLLOW"]);
    // And the headers agree that these (and only these of bunker's) differ.
    const hx = headerValues("x86_64", [...x].map(([c, o]) => [c, o.where]));
    const ha = headerValues("aarch64", [...a].map(([c, o]) => [c, o.where]));
    expect([...hx.keys()].filter((c) => ha.has(c) && ha.get(c) !== hx.get(c)).sort()).toEqual(["O_DIRECTORY", "O_NOFOLLOW"]);
  });
});

import { describe, expect, test } from "bun:test";
import { formatBytes, parseBytes, parseCpuList, parseResources, sharesToWeight, weightToShares } from "../../src/spec/resources";
import { SpecError } from "../../src/spec/validate";
import { ioWeight, neededControllers, v1Writes, v2Writes } from "../../src/cgroups/limits";
import { layoutFrom } from "../../src/cgroups/detect";
import { cgroupfsView } from "../../src/cgroups/view";
import { statsRows, statsTable } from "../../src/cli/stats";
import type { ContainerState } from "../../src/runtime/store";
import { allowsEverything, deviceProgram } from "../../src/cgroups/devicefilter";
import { v1DeviceWrites } from "../../src/cgroups/devices";
import { createSpec } from "../../src/spec/defaults";
import type { LinuxDeviceCgroup } from "../../src/spec/types";

describe("docker's units", () => {
  test("sizes: bytes, k, m, g, t, fractions, upper case and a trailing b", () => {
    expect(parseBytes("512m", "-m")).toBe(512 * 1024 * 1024);
    expect(parseBytes("1g", "-m")).toBe(1024 ** 3);
    expect(parseBytes("1.5G", "-m")).toBe(1.5 * 1024 ** 3);
    expect(parseBytes("65536k", "-m")).toBe(64 * 1024 * 1024);
    expect(parseBytes("1048576", "-m")).toBe(1048576);
    expect(parseBytes("100MB", "-m")).toBe(100 * 1024 * 1024);
    expect(parseBytes("2t", "-m")).toBe(2 * 1024 ** 4);
    for (const bad of ["", "m", "12x", "-5m", "1.2.3g", "10 mm"]) expect(() => parseBytes(bad, "--memory")).toThrow(SpecError);
  });

  test("limits are shown in binary units", () => {
    expect(formatBytes(64 * 1024 * 1024)).toBe("64 MiB");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1.5 GiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(100)).toBe("100 B");
    expect(formatBytes(782336)).toBe("764 KiB");
  });

  test("CPU lists", () => {
    expect(parseCpuList("0-2,4", "x")).toEqual([0, 1, 2, 4]);
    expect(parseCpuList("3,1,1", "x")).toEqual([1, 3]);
    for (const bad of ["", "a", "3-1", "1,,2", "-1"]) expect(() => parseCpuList(bad, "--cpuset-cpus")).toThrow(SpecError);
  });

  test("cpu.weight and shares convert both ways onto the same weight; the defaults meet", () => {
    for (let w = 1; w <= 10000; w++) expect(sharesToWeight(weightToShares(w))).toBe(w);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(100);
    expect(weightToShares(100)).toBe(1024);
    expect(sharesToWeight(512)).toBe(59);
    expect(ioWeight(10)).toBe(1);
    expect(ioWeight(1000)).toBe(10000);
  });
});

describe("limit flags", () => {
  test("no flags: no resources", () => {
    expect(parseResources({})).toBeUndefined();
    expect(parseResources({ pidsLimit: "0" })).toBeUndefined();
    expect(parseResources({ pidsLimit: "-1", blkioWeight: "0", cpuShares: "0" })).toBeUndefined();
    expect(parseResources({ memory: "64m", memorySwap: "0" })).toEqual({ memory: { limit: 64 * 1024 ** 2 } });
  });

  test("each flag in OCI's terms", () => {
    expect(parseResources({ memory: "512m", memorySwap: "1g", cpus: "1.5", cpuShares: "512", cpusetCpus: "0-1", pidsLimit: "100", blkioWeight: "300" })).toEqual({
      memory: { limit: 512 * 1024 ** 2, swap: 1024 ** 3 },
      cpu: { quota: 150000, period: 100000, shares: 512, cpus: "0-1" },
      pids: { limit: 100 },
      blockIO: { weight: 300 },
    });
    expect(parseResources({ memory: "64m", memorySwap: "-1" })!.memory).toEqual({ limit: 64 * 1024 ** 2, swap: -1 });
    expect(parseResources({ cpus: "0.01" })!.cpu).toEqual({ quota: 1000, period: 100000 });
    expect(parseResources({ cpus: ".5" })!.cpu!.quota).toBe(50000);
    expect(parseResources({ cpuWeight: "100" })!.cpu!.shares).toBe(weightToShares(100));
  });

  test("bad values are one-line errors naming the flag", () => {
    const cases: [Parameters<typeof parseResources>[0], RegExp][] = [
      [{ memory: "5m" }, /^--memory 5m: the minimum is 6 MiB/],
      [{ memory: "lots" }, /^--memory "lots": not a size/],
      [{ memorySwap: "1g" }, /^--memory-swap needs --memory/],
      [{ memory: "1g", memorySwap: "512m" }, /^--memory-swap 512m is below --memory 1g/],
      [{ cpus: "0" }, /^--cpus "0": not a positive number/],
      [{ cpus: "-1" }, /^--cpus "-1"/],
      [{ cpus: "0.001" }, /^--cpus 0.001: the minimum is 0.01/],
      [{ cpuShares: "1" }, /^--cpu-shares 1: out of range \(2-262144\)/],
      [{ cpuWeight: "10001" }, /^--cpu-weight 10001: out of range/],
      [{ cpuShares: "512", cpuWeight: "100" }, /give one/],
      [{ cpusetCpus: "2-1" }, /runs backwards/],
      [{ pidsLimit: "many" }, /^--pids-limit "many": not a whole number/],
      [{ blkioWeight: "5" }, /^--blkio-weight 5: out of range/],
      [{ blkioWeight: "1001" }, /^--blkio-weight 1001: out of range/],
    ];
    for (const [flags, msg] of cases) expect(() => parseResources(flags)).toThrow(msg);
  });
});

describe("limits as cgroup files", () => {
  const r = parseResources({ memory: "100m", cpus: "1.5", cpuShares: "512", cpusetCpus: "0", pidsLimit: "50", blkioWeight: "500" })!;
  const flat = (ws: ReturnType<typeof v2Writes>) => ws.map((w) => `${w.controller}:${w.choices.map((c) => `${c.file}=${c.value}`).join("|")}${w.optional ? "?" : ""}`);

  test("v2", () => {
    expect(flat(v2Writes(r))).toEqual([
      "memory:memory.max=104857600",
      "memory:memory.swap.max=104857600?",
      "cpu:cpu.max=150000 100000",
      "cpu:cpu.weight=59",
      "cpuset:cpuset.cpus=0",
      "pids:pids.max=50",
      `io:io.bfq.weight=500|io.weight=default ${ioWeight(500)}`,
    ]);
    expect(flat(v2Writes({ memory: { limit: 1000, swap: 3000 } }))).toEqual(["memory:memory.max=1000", "memory:memory.swap.max=2000"]);
    expect(flat(v2Writes({ memory: { limit: 1000, swap: -1 } }))).toEqual(["memory:memory.max=1000", "memory:memory.swap.max=max?"]);
  });

  test("v1: the memory limit before memsw, the period before the quota", () => {
    expect(flat(v1Writes(r))).toEqual([
      "memory:memory.limit_in_bytes=104857600",
      "memory:memory.memsw.limit_in_bytes=209715200?",
      "cpu:cpu.cfs_period_us=100000",
      "cpu:cpu.cfs_quota_us=150000",
      "cpu:cpu.shares=512",
      "cpuset:cpuset.cpus=0",
      "pids:pids.max=50",
      "io:blkio.weight=500|blkio.bfq.weight=500",
    ]);
  });

  test("the controllers each limit needs", () => {
    expect(neededControllers(r).sort()).toEqual(["cpu", "cpuset", "io", "memory", "pids"]);
    expect(neededControllers({ pids: { limit: 5 } })).toEqual(["pids"]);
    expect(neededControllers(undefined)).toEqual([]);
  });
});

const HYBRID_MOUNTINFO = `
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;
const HYBRID_PROC = "5:pids:/user.slice\n4:memory:/user.slice/x\n2:cpu,cpuacct:/\n1:name=systemd:/user.slice/x\n0::/user.slice/x\n";

describe("cgroup layout", () => {
  test("hybrid: v1 controllers, co-mounted ones, a named hierarchy, and cgroup2 beside them", () => {
    const l = layoutFrom(HYBRID_MOUNTINFO, HYBRID_PROC, () => []);
    expect(l.mode).toBe("hybrid");
    expect(l.v1.map((h) => [h.mount, h.key, h.controllers, h.own])).toEqual([
      ["/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct", ["cpu", "cpuacct"], "/"],
      ["/sys/fs/cgroup/memory", "memory", ["memory"], "/user.slice/x"],
      ["/sys/fs/cgroup/pids", "pids", ["pids"], "/user.slice"],
      ["/sys/fs/cgroup/systemd", "name=systemd", [], "/user.slice/x"],
    ]);
    expect(l.v2).toMatchObject({ mount: "/sys/fs/cgroup/unified", own: "/user.slice/x", controllers: [] });
    expect(cgroupfsView(l)).toEqual({
      unified: false,
      hierarchies: [
        { dir: "cpu,cpuacct", fsType: "cgroup", data: "cpu,cpuacct" },
        { dir: "memory", fsType: "cgroup", data: "memory" },
        { dir: "pids", fsType: "cgroup", data: "pids" },
        { dir: "systemd", fsType: "cgroup", data: "none,name=systemd" },
        { dir: "unified", fsType: "cgroup2", data: "" },
      ],
      links: [
        { name: "cpu", target: "cpu,cpuacct" },
        { name: "cpuacct", target: "cpu,cpuacct" },
      ],
    });
  });

  test("unified: one cgroup2 mount, controllers from the root", () => {
    const l = layoutFrom("25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/user.slice/user-1000.slice/session-1.scope\n", (m) => (m === "/sys/fs/cgroup" ? ["cpu", "memory", "pids"] : []));
    expect(l.mode).toBe("unified");
    expect(l.v2).toEqual({ version: 2, mount: "/sys/fs/cgroup", controllers: ["cpu", "memory", "pids"], key: "", own: "/user.slice/user-1000.slice/session-1.scope" });
    expect(cgroupfsView(l)).toEqual({ unified: true, hierarchies: [], links: [] });
  });

  test("legacy v1 only, and no cgroups at all", () => {
    expect(layoutFrom("34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "4:memory:/\n", () => []).mode).toBe("legacy");
    const none = layoutFrom("", "", () => []);
    expect(none.mode).toBe("none");
    expect(cgroupfsView(none)).toBeUndefined();
  });

  test("a mount of a subtree (a container's own view) places the process relative to it", () => {
    const l = layoutFrom("25 20 0:22 /bunker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/bunker/abc/inner\n", () => []);
    expect(l.v2!.own).toBe("/inner");
    const other = layoutFrom("25 20 0:22 /elsewhere /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/bunker/abc\n", () => []);
    expect(other.mode).toBe("none");
  });
});

describe("stats", () => {
  const state = { id: "0123456789ab", name: "web" } as ContainerState;
  test("CPU % from usage over wall time; memory % of the limit, or of the host's memory", () => {
    const before = [{ state, at: 1_000_000, usage: { cpuUsec: 500_000, memory: 1, pids: 1 } }];
    const after = [{ state, at: 2_000_000, usage: { cpuUsec: 1_250_000, memory: 16 * 1024 ** 2, memoryLimit: 64 * 1024 ** 2, pids: 3, pidsLimit: 100 } }];
    const rows = statsRows(before, after, 1024 ** 3);
    expect(rows).toEqual([
      { id: "0123456789ab", name: "web", cpuPercent: 75, memoryUsage: 16 * 1024 ** 2, memoryLimit: 64 * 1024 ** 2, memoryPercent: 25, pids: 3, pidsLimit: 100 },
    ]);
    expect(statsTable(rows)).toBe(
      "CONTAINER ID   NAME   CPU %    MEM USAGE / LIMIT   MEM %    PIDS\n0123456789ab   web    75.00%   16 MiB / 64 MiB     25.00%   3\n",
    );
    const unlimited = statsRows(before, [{ state, at: 2_000_000, usage: { cpuUsec: 500_000, memory: 512 * 1024 ** 2 } }], 1024 ** 3);
    expect(unlimited[0]).toMatchObject({ cpuPercent: 0, memoryLimit: 1024 ** 3, memoryPercent: 50, pids: null });
  });

  test("a container without cgroups shows dashes", () => {
    const rows = statsRows([], [{ state, at: 1, usage: null }], 1024);
    expect(statsTable(rows)).toContain("0123456789ab   web    --      --                  --      --");
  });
});

/**
 * Runs a BPF_PROG_TYPE_CGROUP_DEVICE program the way the kernel would for one
 * request (only the instructions such a program needs); reading a register
 * never written, or any other instruction, fails as the verifier would.
 */
function runDeviceProgram(prog: Uint8Array, type: "c" | "b", major: number, minor: number, access: string): boolean {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const bits = [...access].reduce((a, c) => a | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[c]!, 0);
  const ctx = [((bits << 16) | (type === "b" ? 1 : 2)) >>> 0, major, minor];
  const r: (number | "ctx" | undefined)[] = new Array(11).fill(undefined);
  r[1] = "ctx";
  const num = (i: number) => {
    const v = r[i];
    if (typeof v !== "number") throw new Error(`r${i} read before it was written`);
    return v;
  };
  for (let pc = 0, steps = 0; steps < 10000; steps++) {
    if (pc < 0 || pc * 8 >= prog.length) throw new Error(`jump out of the program to ${pc}`);
    const [code, regs, off, imm] = [dv.getUint8(pc * 8), dv.getUint8(pc * 8 + 1), dv.getInt16(pc * 8 + 2, true), dv.getInt32(pc * 8 + 4, true)];
    const [dst, src] = [regs & 15, regs >> 4];
    pc++;
    switch (code) {
      case 0x61:
        if (r[src] !== "ctx" || off % 4 !== 0 || off > 8) throw new Error(`bad context load at ${pc - 1}`);
        r[dst] = ctx[off / 4]!;
        break;
      case 0x54:
        r[dst] = (num(dst) & imm) >>> 0;
        break;
      case 0x74:
        r[dst] = num(dst) >>> imm;
        break;
      case 0xb4:
        r[dst] = imm >>> 0;
        break;
      case 0xbc:
        r[dst] = num(src);
        break;
      case 0x15:
        if (num(dst) === imm >>> 0) pc += off;
        break;
      case 0x55:
        if (num(dst) !== imm >>> 0) pc += off;
        break;
      case 0x45:
        if ((num(dst) & imm) !== 0) pc += off;
        break;
      case 0x95:
        return num(0) === 1;
      default:
        throw new Error(`unexpected instruction 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error("the program does not end");
}

/** The verifier refuses a program with an instruction no path reaches. */
function unreachable(prog: Uint8Array): number[] {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const n = prog.length / 8;
  const seen = new Set<number>();
  const todo = [0];
  while (todo.length) {
    const pc = todo.pop()!;
    if (seen.has(pc) || pc >= n) continue;
    seen.add(pc);
    const code = dv.getUint8(pc * 8);
    if (code === 0x95) continue;
    if ([0x15, 0x55, 0x45].includes(code)) todo.push(pc + 1 + dv.getInt16(pc * 8 + 2, true));
    todo.push(pc + 1);
  }
  return [...Array(n).keys()].filter((i) => !seen.has(i));
}

type Req = [type: "c" | "b", major: number, minor: number, access: string];

function verdicts(rules: LinuxDeviceCgroup[], reqs: Req[]): string[] {
  const prog = deviceProgram(rules);
  expect(unreachable(prog)).toEqual([]);
  return reqs.map(([t, ma, mi, a]) => `${t} ${ma}:${mi} ${a} ${runDeviceProgram(prog, t, ma, mi, a) ? "allowed" : "denied"}`);
}

describe("device rules", () => {
  const defaults = () => createSpec({ id: "0123456789ab", args: ["sh"], network: "none", callerEnv: {}, cgroupsPath: "/bunker/0123456789ab", defaultLimits: { pids: true, devices: true } });

  test("a container with a cgroup gets docker's allow-list (root) and a PID limit of 2048; --privileged every device", () => {
    const s = defaults();
    expect(s.oci.linux.resources).toEqual({
      pids: { limit: 2048 },
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", access: "m" },
        { allow: true, type: "b", access: "m" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
        { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
        { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
        { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
        { allow: true, type: "c", major: 136, access: "rwm" },
        { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
      ],
    });
    expect(s.bunker.pidsDefault).toBe(true);
    const base = { id: "0123456789ab", args: ["sh"], network: "none" as const, callerEnv: {} };
    const privileged = createSpec({ ...base, cgroupsPath: "/bunker/x", defaultLimits: { pids: true, devices: true }, security: { caps: [], added: [], privileged: true, noNewPrivileges: true, rlimits: [], readonlyRoot: false, seccomp: "default" } });
    expect(privileged.oci.linux.resources!.devices).toEqual([{ allow: true, access: "rwm" }]);
    // A --pids-limit given is not the default; rootless gets no device rules; no cgroup, no defaults.
    const given = createSpec({ ...base, cgroupsPath: "/bunker/x", resources: { pids: { limit: 5 } }, defaultLimits: { pids: false, devices: false } });
    expect(given.oci.linux.resources).toEqual({ pids: { limit: 5 } });
    expect(given.bunker.pidsDefault).toBeUndefined();
    expect(createSpec({ ...base, defaultLimits: { pids: true, devices: true } }).oci.linux.resources).toBeUndefined();
  });

  test("the eBPF program of the default list allows what the list names and mknod of anything, nothing else", () => {
    const rules = defaults().oci.linux.resources!.devices!;
    expect(allowsEverything(rules)).toBe(false);
    const reqs: Req[] = [
      ["c", 1, 3, "r"], ["c", 1, 3, "w"], ["c", 1, 3, "rw"], ["c", 1, 5, "rw"], ["c", 1, 7, "rw"], ["c", 1, 8, "r"], ["c", 1, 9, "r"],
      ["c", 5, 0, "rw"], ["c", 5, 1, "rw"], ["c", 5, 2, "rw"], ["c", 136, 0, "rw"], ["c", 136, 4095, "rw"], ["c", 10, 200, "rw"],
      ["c", 10, 229, "m"], ["b", 8, 0, "m"],
      ["c", 10, 229, "r"], ["c", 10, 229, "rw"], ["c", 1, 11, "r"], ["c", 1, 1, "r"], ["c", 4, 0, "rw"], ["c", 10, 232, "rw"],
      ["b", 7, 0, "r"], ["b", 8, 0, "rw"], ["b", 1, 3, "r"], ["b", 136, 0, "rw"], ["c", 137, 0, "rw"], ["c", 1, 4, "w"],
    ];
    expect(verdicts(rules, reqs)).toEqual([
      "c 1:3 r allowed", "c 1:3 w allowed", "c 1:3 rw allowed", "c 1:5 rw allowed", "c 1:7 rw allowed", "c 1:8 r allowed", "c 1:9 r allowed",
      "c 5:0 rw allowed", "c 5:1 rw allowed", "c 5:2 rw allowed", "c 136:0 rw allowed", "c 136:4095 rw allowed", "c 10:200 rw allowed",
      "c 10:229 m allowed", "b 8:0 m allowed",
      "c 10:229 r denied", "c 10:229 rw denied", "c 1:11 r denied", "c 1:1 r denied", "c 4:0 rw denied", "c 10:232 rw denied",
      "b 7:0 r denied", "b 8:0 rw denied", "b 1:3 r denied", "b 136:0 rw denied", "c 137:0 rw denied", "c 1:4 w denied",
    ]);
  });

  test("later rules win, partial access counts as v1 counts it, and no rule leaves dead code behind", () => {
    // Read only: writing, or reading and writing at once, is refused.
    expect(verdicts([{ allow: false }, { allow: true, type: "c", major: 1, minor: 3, access: "r" }], [["c", 1, 3, "r"], ["c", 1, 3, "w"], ["c", 1, 3, "rw"], ["c", 1, 3, "m"]])).toEqual([
      "c 1:3 r allowed", "c 1:3 w denied", "c 1:3 rw denied", "c 1:3 m denied",
    ]);
    // Everything but writing one device: a deny takes away what it names, from any request that asks for it.
    expect(verdicts([{ allow: true }, { allow: false, type: "c", major: 1, minor: 3, access: "w" }], [["c", 1, 3, "r"], ["c", 1, 3, "w"], ["c", 1, 3, "rw"], ["c", 1, 5, "rw"], ["b", 1, 3, "w"]])).toEqual([
      "c 1:3 r allowed", "c 1:3 w denied", "c 1:3 rw denied", "c 1:5 rw allowed", "b 1:3 w allowed",
    ]);
    // A rule for every device without a type is about both kinds.
    expect(verdicts([{ allow: false }, { allow: true, major: 1, minor: 3 }], [["c", 1, 3, "rw"], ["b", 1, 3, "rw"], ["c", 1, 5, "r"]])).toEqual(["c 1:3 rw allowed", "b 1:3 rw allowed", "c 1:5 r denied"]);
    // A later "deny everything" clears what came before; no rules at all allow nothing.
    expect(verdicts([{ allow: true, type: "c", major: 1, minor: 3 }, { allow: false }], [["c", 1, 3, "r"]])).toEqual(["c 1:3 r denied"]);
    expect(verdicts([], [["c", 1, 3, "r"]])).toEqual(["c 1:3 r denied"]);
    expect(allowsEverything([{ allow: true, access: "rwm" }])).toBe(true);
    expect(allowsEverything([{ allow: true, access: "rw" }])).toBe(false);
    expect(() => deviceProgram([{ allow: true, access: "rwx" }])).toThrow(/device rule access "rwx"/);
  });

  test("v1: the same rules as devices.allow and devices.deny writes, from a clean deny", () => {
    const lines = (rules: LinuxDeviceCgroup[]) => v1DeviceWrites(rules).map((w) => `${w.file} ${w.value}`);
    expect(lines(defaults().oci.linux.resources!.devices!)).toEqual([
      "devices.deny a",
      "devices.allow c *:* m",
      "devices.allow b *:* m",
      "devices.allow c 1:3 rwm",
      "devices.allow c 1:5 rwm",
      "devices.allow c 1:7 rwm",
      "devices.allow c 1:8 rwm",
      "devices.allow c 1:9 rwm",
      "devices.allow c 5:0 rwm",
      "devices.allow c 5:1 rwm",
      "devices.allow c 5:2 rwm",
      "devices.allow c 136:* rwm",
      "devices.allow c 10:200 rwm",
    ]);
    expect(lines([{ allow: true, access: "rwm" }])).toEqual(["devices.allow a"]);
    // Rules that do not start from a state of their own start from "deny everything", as on cgroup v2.
    expect(lines([{ allow: true, type: "c", major: 1, minor: 3, access: "r" }])).toEqual(["devices.deny a", "devices.allow c 1:3 r"]);
    expect(lines([{ allow: false }, { allow: true, access: "m" }])).toEqual(["devices.deny a", "devices.allow c *:* m", "devices.allow b *:* m"]);
    expect(() => lines([{ allow: true, type: "c", access: "rx" }])).toThrow(/device rule access "rx"/);
  });
});

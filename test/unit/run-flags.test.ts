// The syntax of docker run's device, port, namespace and resource flags, without the host.

import { describe, expect, test } from "bun:test";
import { parseDevice, parseDeviceRule } from "../../src/spec/devices";
import { parseExpose } from "../../src/spec/ports";
import { parseResources } from "../../src/spec/resources";
import { v1Writes, v2Writes } from "../../src/cgroups/limits";

describe("run flags' syntax", () => {
  test("--device HOST[:CTR][:PERMS], as docker reads two parts", () => {
    expect(parseDevice("/dev/fuse")).toEqual({ host: "/dev/fuse", path: "/dev/fuse", access: "rwm" });
    expect(parseDevice("/dev/fuse:r")).toEqual({ host: "/dev/fuse", path: "/dev/fuse", access: "r" });
    expect(parseDevice("/dev/sdb:/dev/xvdc")).toEqual({ host: "/dev/sdb", path: "/dev/xvdc", access: "rwm" });
    expect(parseDevice("/dev/sdb:/dev/xvdc:rw")).toEqual({ host: "/dev/sdb", path: "/dev/xvdc", access: "rw" });
    for (const bad of ["dev/fuse", "/dev/fuse:/dev/../etc/x", "/dev/fuse:/dev/f:rr", "/dev/a:/dev/b:r:w", "/dev/fuse:"]) expect(() => parseDevice(bad)).toThrow();
  });

  test("--device-cgroup-rule TYPE MAJOR:MINOR PERMS, * for any number", () => {
    expect(parseDeviceRule("c 1:3 rwm")).toEqual({ allow: true, type: "c", major: 1, minor: 3, access: "rwm" });
    expect(parseDeviceRule("b 8:* r")).toEqual({ allow: true, type: "b", major: 8, access: "r" });
    expect(parseDeviceRule("a *:* m")).toEqual({ allow: true, type: "a", access: "m" });
    for (const bad of ["c 1:3", "x 1:3 r", "c 5000:1 r", "c 1:3 rx"]) expect(() => parseDeviceRule(bad)).toThrow();
  });

  test("--expose: a port or a range, tcp unless /udp", () => {
    expect(parseExpose("80")).toEqual(["80/tcp"]);
    expect(parseExpose("53-55/udp")).toEqual(["53/udp", "54/udp", "55/udp"]);
    for (const bad of ["0", "70000", "80/sctp", "90-80", "x"]) expect(() => parseExpose(bad)).toThrow();
  });

  test("--cpu-period/--cpu-quota (not with --cpus), --memory-reservation (not above -m), --oom-kill-disable, in each version's files", () => {
    const r = parseResources({ memory: "64m", memoryReservation: "32m", oomKillDisable: true, cpuPeriod: "50000", cpuQuota: "25000" })!;
    expect(r).toEqual({ memory: { limit: 64 * 1024 ** 2, reservation: 32 * 1024 ** 2, disableOOMKiller: true }, cpu: { period: 50000, quota: 25000 } });
    const files = (w: ReturnType<typeof v1Writes>) => w.map((x) => `${x.choices[0]!.file}=${x.choices[0]!.value}`);
    expect(files(v1Writes(r))).toEqual(
      expect.arrayContaining(["memory.soft_limit_in_bytes=33554432", "memory.oom_control=1", "cpu.cfs_period_us=50000", "cpu.cfs_quota_us=25000"]),
    );
    expect(files(v2Writes(r))).toEqual(expect.arrayContaining(["memory.low=33554432", "cpu.max=25000 50000"]));
    expect(files(v2Writes(r)).some((f) => f.startsWith("memory.oom"))).toBe(false);
    // A period alone leaves the quota unlimited.
    expect(files(v2Writes(parseResources({ cpuPeriod: "20000" })!))).toEqual(["cpu.max=max 20000"]);
    expect(() => parseResources({ cpus: "1", cpuPeriod: "50000" })).toThrow("--cpus sets the CPU period and quota itself");
    expect(() => parseResources({ memory: "64m", memoryReservation: "65m" })).toThrow("above --memory");
    expect(() => parseResources({ cpuQuota: "999" })).toThrow("out of range");
  });
});

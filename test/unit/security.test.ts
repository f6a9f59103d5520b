import { describe, expect, test } from "bun:test";
import { capName, capWords, resolveCaps } from "../../src/security/caps";
import { capPlan, planCapabilities } from "../../src/security/plan";
import { ChildProgram } from "../../src/child/program";
import { parseUlimit } from "../../src/cli/runspec";
import { createSpec, DEFAULT_SECURITY } from "../../src/spec/defaults";

describe("capability sets", () => {
  test("names: with or without CAP_, any case; unknown ones refused", () => {
    expect(capName("cap_net_admin")).toBe("NET_ADMIN");
    expect(capName("Sys_Time")).toBe("SYS_TIME");
    expect(capName("all")).toBe("ALL");
    expect(() => capName("FLY")).toThrow('unknown capability "FLY"');
  });
  test("default, drop, add (add wins), ALL, privileged", () => {
    // docker's default set, in capability-number order.
    expect(resolveCaps([], [], false)).toEqual(["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"]);
    expect(resolveCaps([], [], false).length).toBe(14);
    expect(resolveCaps(["NET_ADMIN"], ["KILL"], false)).toContain("NET_ADMIN");
    expect(resolveCaps([], ["KILL"], false)).not.toContain("KILL");
    expect(resolveCaps(["KILL"], ["KILL"], false)).toContain("KILL");
    expect(resolveCaps(["CHOWN"], ["ALL"], false)).toEqual(["CHOWN"]);
    expect(resolveCaps(["ALL"], [], false).length).toBe(41);
    expect(resolveCaps([], ["ALL"], true).length).toBe(41);
  });
  test("masks split into two 32-bit words", () => {
    expect(capWords(["CHOWN", "SETFCAP"])).toEqual([(1 | (1 << 31)) >>> 0, 0]);
    expect(capWords(["MAC_OVERRIDE", "CHECKPOINT_RESTORE"])).toEqual([0, (1 | (1 << 8)) >>> 0]);
  });
  test("a plan keeps only what bunker itself has", () => {
    const plan = capPlan({ bounding: ["CAP_CHOWN", "CAP_SYS_RESOURCE"], effective: ["CAP_SYS_RESOURCE"], ambient: [] }, { lastCap: 40, bounding: ~(1n << 24n) & ((1n << 41n) - 1n) });
    expect(plan.bounding).toEqual(["CHOWN"]);
    expect(plan.effective).toEqual([]);
  });
  test("each set is kept as given: OCI's inheritable set is usually empty where effective is not", () => {
    const plan = capPlan({ bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_CHOWN", "CAP_KILL"], permitted: ["CAP_CHOWN", "CAP_KILL"], inheritable: [] }, { lastCap: 40, bounding: (1n << 41n) - 1n });
    expect(plan).toMatchObject({ effective: ["CHOWN", "KILL"], permitted: ["CHOWN", "KILL"], inheritable: [], ambient: [] });
    const p = new ChildProgram();
    planCapabilities(p, plan, false);
    const capset = p.steps.find((s) => s.call === "capset")!;
    expect(capset.desc).toBe("set capabilities to effective CHOWN,KILL, permitted CHOWN,KILL, inheritable none");
  });
});

describe("the security part of a spec", () => {
  test("root gets the set everywhere but ambient; another user only what was added, ambient too", () => {
    const root = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/r" });
    expect(root.oci.process.capabilities!.effective).toContain("CAP_CHOWN");
    expect(root.oci.process.capabilities!.ambient).toEqual([]);
    expect(root.oci.process.noNewPrivileges).toBe(true);
    expect(root.oci.linux.maskedPaths).toContain("/proc/kcore");
    const user = createSpec({
      id: "x",
      args: ["sh"],
      network: "none",
      callerEnv: {},
      rootfs: "/r",
      user: { uid: 1000, gid: 1000 },
      security: { ...DEFAULT_SECURITY, caps: [...DEFAULT_SECURITY.caps, "NET_ADMIN"], added: ["NET_ADMIN"] },
    });
    expect(user.oci.process.capabilities).toMatchObject({ effective: ["CAP_NET_ADMIN"], ambient: ["CAP_NET_ADMIN"] });
    expect(user.oci.process.capabilities!.bounding).toContain("CAP_CHOWN");
  });
  test("--privileged: no masked paths; --read-only: tmpfs /tmp and /run unless mounted", () => {
    const p = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/r", security: { ...DEFAULT_SECURITY, privileged: true } });
    expect(p.oci.linux.maskedPaths).toBeUndefined();
    const ro = createSpec({
      id: "x",
      args: ["sh"],
      network: "none",
      callerEnv: {},
      rootfs: "/r",
      security: { ...DEFAULT_SECURITY, readonlyRoot: true },
      extraMounts: [{ destination: "/run", type: "tmpfs", source: "tmpfs", options: ["size=1m"] }],
    });
    expect(ro.oci.root.readonly).toBe(true);
    expect(ro.oci.mounts.filter((m) => m.destination === "/tmp").length).toBe(1);
    expect(ro.oci.mounts.filter((m) => m.destination === "/run")).toEqual([{ destination: "/run", type: "tmpfs", source: "tmpfs", options: ["size=1m"] }]);
  });
  test("--ulimit syntax", () => {
    expect(parseUlimit("nofile=1024:2048")).toEqual({ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 });
    expect(parseUlimit("core=0")).toEqual({ type: "RLIMIT_CORE", soft: 0, hard: 0 });
    expect(parseUlimit("stack=unlimited").hard).toBe(18446744073709551615);
    expect(() => parseUlimit("nofile")).toThrow("use NAME=SOFT[:HARD]");
    expect(() => parseUlimit("nofile=2:1")).toThrow("soft limit is above the hard one");
  });
});

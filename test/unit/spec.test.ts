import { describe, expect, test } from "bun:test";
import { createSpec, envValue } from "../../src/spec/defaults";
import { SpecError, validateHostname, validateNetworkMode, validateSpec } from "../../src/spec/validate";
import { parseMountOptions } from "../../src/rootfs/options";
import { MS } from "../../src/sys/constants";

describe("createSpec", () => {
  const base = { id: "0123456789ab", args: ["sh"], network: "none" as const, callerEnv: { TERM: "xterm", HOME: "/home/x" } };

  test("a rootfs container: OCI namespaces, mounts and devices, clean environment", () => {
    const s = createSpec({ ...base, rootfs: "/r", rootfsHasEtc: true });
    expect(s.oci.root).toEqual({ path: "/r", readonly: false });
    expect(s.oci.hostname).toBe("0123456789ab");
    expect(s.oci.linux.namespaces.map((n) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "uts"]);
    expect(s.oci.mounts.map((m) => m.destination)).toEqual(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]);
    expect(s.oci.mounts.at(-1)).toEqual({ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] });
    expect(s.oci.linux.resources).toBeUndefined();
    expect(s.oci.linux.cgroupsPath).toBeUndefined();
    expect(s.oci.linux.devices!.map((d) => d.path)).toEqual(["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]);
    expect(s.oci.process.env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/root",
      "HOSTNAME=0123456789ab",
      "TERM=xterm",
    ]);
    expect(s.bunker).toEqual({
      id: "0123456789ab",
      rootMode: "dir",
      network: "none",
      etcFiles: true,
      setgroups: true,
      cwd: { create: false, optional: false },
      seccomp: "default",
    });
  });

  test("without a rootfs: the host's root read-only, private /tmp and /run", () => {
    const s = createSpec({ ...base, hostname: "h", network: "host" });
    expect(s.bunker.rootMode).toBe("host");
    expect(s.oci.root).toEqual({ path: "/", readonly: true });
    expect(s.oci.mounts.map((m) => m.destination)).toContain("/tmp");
    expect(s.oci.mounts.map((m) => m.destination)).toContain("/run");
    expect(s.oci.linux.namespaces.map((n) => n.type)).not.toContain("network");
  });

  test("envValue takes the last definition", () => {
    expect(envValue(["A=1", "B=2", "A=3"], "A")).toBe("3");
    expect(envValue(["A=1"], "B")).toBeUndefined();
  });
});

describe("validation", () => {
  test("hostnames: not empty, at most 64 bytes, no spaces or slashes", () => {
    expect(() => validateHostname("")).toThrow(SpecError);
    expect(() => validateHostname("a".repeat(64))).not.toThrow();
    expect(() => validateHostname("a".repeat(65))).toThrow("65 bytes");
    expect(() => validateHostname("é".repeat(33))).toThrow("66 bytes");
    expect(() => validateHostname("a b")).toThrow(/no spaces/);
    expect(() => validateHostname("a/b")).toThrow(/slashes/);
  });

  test("network modes", () => {
    expect(() => validateNetworkMode("host")).not.toThrow();
    expect(() => validateNetworkMode("bridge")).not.toThrow();
    expect(() => validateNetworkMode("container:web")).not.toThrow();
    expect(() => validateNetworkMode("ns:relative")).toThrow("must be absolute");
    expect(() => validateNetworkMode("wifi")).toThrow('unknown network mode "wifi"');
  });

  test("a spec needs a command", () => {
    const s = createSpec({ id: "x", args: [], network: "none", callerEnv: {} });
    expect(() => validateSpec(s)).toThrow(/no command given/);
    s.oci.process.args = [""];
    expect(() => validateSpec(s)).toThrow(/empty string/);
  });
});

describe("mount options", () => {
  test("flags are separated from filesystem data; later options win", () => {
    expect(parseMountOptions(["nosuid", "ro", "mode=755", "size=1k"])).toEqual({ flags: MS.NOSUID | MS.RDONLY, data: "mode=755,size=1k" });
    expect(parseMountOptions(["ro", "rw"]).flags).toBe(0);
    expect(parseMountOptions(["rbind"]).flags).toBe(MS.BIND | MS.REC);
  });
});

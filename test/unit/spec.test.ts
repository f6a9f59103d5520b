import { describe, expect, test } from "bun:test";
import { createSpec, envValue } from "../../src/spec/defaults";
import { SpecError, validateHostname, validateNetworkMode, validateSpec } from "../../src/spec/validate";
import { fsOptions, propagationOf } from "../../src/rootfs/options";

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
    // A name is a network made by `network create`: whether it exists is asked later.
    expect(() => validateNetworkMode("wifi")).not.toThrow();
    expect(() => validateNetworkMode("wi fi")).toThrow('unknown network mode "wi fi"');
    expect(() => validateNetworkMode("-x")).toThrow('unknown network mode "-x"');
  });

  test("a spec needs a command", () => {
    const s = createSpec({ id: "x", args: [], network: "none", callerEnv: {} });
    expect(() => validateSpec(s)).toThrow(/no command given/);
    s.oci.process.args = [""];
    expect(() => validateSpec(s)).toThrow(/empty string/);
  });
});

describe("mount options", () => {
  test("per-mount flags are separated from the filesystem's parameters; a later rw clears ro", () => {
    // MOUNT_ATTR_RDONLY 1, NOSUID 2, NODEV 4, NOEXEC 8, NOATIME 0x10, STRICTATIME 0x20.
    expect(fsOptions(["nosuid", "ro", "mode=755", "size=1k", "newinstance"])).toEqual({ attrs: 0x2 | 0x1, clear: 0, params: [["mode", "755"], ["size", "1k"], ["newinstance", null]] });
    expect(fsOptions(["ro", "rw"]).attrs).toBe(0);
    expect(fsOptions(["nodev", "noexec", "strictatime", "noatime"]).attrs).toBe(0x4 | 0x8 | 0x20 | 0x10);
    // Defaults and propagation pass no parameter.
    expect(fsOptions(["rbind", "relatime", "rprivate", "shared", "exec"])).toEqual({ attrs: 0, clear: 0, params: [] });
  });

  test("the recursive flags set or clear, the later option winning; a cleared access-time mode clears all its bits", () => {
    expect(fsOptions(["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"])).toEqual({ attrs: 0x1 | 0x2 | 0x4 | 0x8 | 0x200000, clear: 0, params: [] });
    expect(fsOptions(["rrw", "rsuid", "rdev", "rexec", "rsymfollow", "rdiratime"])).toEqual({ attrs: 0, clear: 0x1 | 0x2 | 0x4 | 0x8 | 0x200000 | 0x80, params: [] });
    expect(fsOptions(["rro", "rrw"])).toMatchObject({ attrs: 0, clear: 0x1 });
    expect(fsOptions(["rrw", "rro"])).toMatchObject({ attrs: 0x1, clear: 0 });
    // MOUNT_ATTR__ATIME is 0x70: noatime 0x10 and strictatime 0x20 are modes within it.
    expect(fsOptions(["rnoatime"])).toMatchObject({ attrs: 0x10, clear: 0 });
    expect(fsOptions(["rnoatime", "rrelatime"])).toMatchObject({ attrs: 0, clear: 0x70 });
    expect(fsOptions(["ratime", "rstrictatime"])).toMatchObject({ attrs: 0x20, clear: 0 });
    // None of them is passed to the filesystem as a parameter.
    expect(fsOptions(["rnostrictatime", "rnorelatime", "rnodiratime"]).params).toEqual([]);
  });

  test("propagation: the last one given; r- forms are recursive", () => {
    // MS_REC 0x4000, MS_PRIVATE 1<<18, MS_SLAVE 1<<19, MS_SHARED 1<<20, MS_UNBINDABLE 1<<17.
    expect(propagationOf(["nosuid"])).toBeUndefined();
    expect(propagationOf(["shared"])).toBe(1 << 20);
    expect(propagationOf(["rslave"])).toBe((1 << 19) | 0x4000);
    expect(propagationOf(["rshared", "runbindable"])).toBe((1 << 17) | 0x4000);
  });
});

// config.json to container spec, without the kernel: what each field becomes,
// and the field a bad or unsupported value is refused by name.

import { describe, expect, test } from "bun:test";
import { bundleSpec, type BundleContext } from "../../src/oci/bundle";
import { ConfigError } from "../../src/oci/config";

const ctx = (over: Partial<BundleContext> = {}): BundleContext => ({
  bundle: "/b",
  id: "0123456789ab",
  uid: 0,
  gid: 0,
  lsm: { apparmor: false, selinux: false },
  helpers: { newuidmap: "/usr/bin/newuidmap", newgidmap: "/usr/bin/newgidmap" },
  isDir: (p) => p === "/b/rootfs" || p === "/abs/root",
  isHostNamespace: (p) => p === "/proc/1/ns/net",
  ...over,
});

type Config = Record<string, any>;

const base = (): Config => ({
  ociVersion: "1.0.2",
  process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", env: ["PATH=/bin"] },
  root: { path: "rootfs" },
  mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
  linux: { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "network" }, { type: "uts" }] },
});

const spec = (edit: (c: Config) => void = () => {}, c = ctx()) => {
  const config = base();
  edit(config);
  return bundleSpec(config, c);
};

/** The message a config is refused with. */
const refusal = (edit: (c: Config) => void, c = ctx()): string => {
  try {
    spec(edit, c);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("the config was accepted");
};

describe("bundle to spec", () => {
  test("root.path is taken relative to the bundle; the process as given; no files written into /etc", () => {
    const s = spec();
    expect(s.oci.root.path).toBe("/b/rootfs");
    // No capabilities named: none held.
    expect(s.oci.process).toEqual({ user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", env: ["PATH=/bin"], capabilities: {} });
    expect(s.bunker).toMatchObject({ id: "0123456789ab", rootMode: "dir", etcFiles: false, seccomp: "unconfined", cwd: { create: true, optional: false } });
    expect(spec((c) => (c.root.path = "/abs/root")).oci.root.path).toBe("/abs/root");
  });

  test("the network namespace decides the network: own (lo only), joined by path, or none (the host's)", () => {
    expect(spec().bunker.network).toBe("none");
    const joined = spec((c) => (c.linux.namespaces[2] = { type: "network", path: "/run/netns/x" }));
    expect(joined.bunker).toMatchObject({ network: "joined", net: { ports: [], joined: "ns:/run/netns/x" } });
    expect(spec((c) => c.linux.namespaces.splice(2, 1)).bunker.network).toBe("host");
  });

  test("the default devices come first unless the config names the same path; device rules get the defaults and its devices appended", () => {
    const s = spec((c) => {
      c.linux.devices = [{ path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o600 }, { path: "/dev/sda", type: "b", major: 8, minor: 0 }];
      c.linux.resources = { devices: [{ allow: false, access: "rwm" }] };
    });
    const paths = s.oci.linux.devices!.map((d) => d.path);
    expect(paths).toEqual(["/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/null", "/dev/sda"]);
    expect(s.oci.linux.devices!.find((d) => d.path === "/dev/null")!.fileMode).toBe(0o600);
    const rules = s.oci.linux.resources!.devices!;
    expect(rules[0]).toEqual({ allow: false, access: "rwm" });
    expect(rules).toContainEqual({ allow: true, type: "b", major: 8, minor: 0, access: "rwm" });
    expect(rules).toContainEqual({ allow: true, type: "c", major: 136, access: "rwm" });
    // Without rules in the config, none are added: every device stays allowed, as runc has it.
    expect(spec().oci.linux.resources).toBeUndefined();
  });

  test("ID maps: root writes them itself; a user its own single ID itself with setgroups denied, more through the helpers", () => {
    const userns = (c: Config, uid: number, size = 1) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: uid, size }];
      c.linux.gidMappings = [{ containerID: 0, hostID: uid, size }];
    };
    expect(spec((c) => userns(c, 100000, 65536)).bunker).toMatchObject({ userns: { writer: "direct" }, setgroups: true });
    const user = ctx({ uid: 1000, gid: 1000 });
    expect(spec((c) => userns(c, 1000), user).bunker).toMatchObject({ userns: { writer: "direct" }, setgroups: false });
    expect(spec((c) => userns(c, 200000, 65536), user).bunker).toMatchObject({ userns: { writer: "helpers", newuidmap: "/usr/bin/newuidmap" }, setgroups: true });
    const noHelpers = ctx({ uid: 1000, gid: 1000, helpers: undefined });
    expect(refusal((c) => userns(c, 200000, 65536), noHelpers)).toContain("install the uidmap package");
    expect(refusal(() => {}, user)).toBe("linux.namespaces: an unprivileged caller needs a user namespace (bunker spec --rootless writes one)");
  });

  test("cgroupsPath as a path; a systemd slice or one that leaves the root is refused", () => {
    expect(spec((c) => (c.linux.cgroupsPath = "/default/x")).oci.linux.cgroupsPath).toBe("/default/x");
    expect(refusal((c) => (c.linux.cgroupsPath = "system.slice:docker:x"))).toMatch(/^linux\.cgroupsPath: .* is a systemd slice:prefix:name/);
    expect(refusal((c) => (c.linux.cgroupsPath = "/a/../../etc"))).toMatch(/^linux\.cgroupsPath: .* without \. or \.\./);
    expect(refusal((c) => (c.linux.cgroupsPath = "/"))).toMatch(/^linux\.cgroupsPath: "\/" must name a cgroup below the root/);
  });

  test("sysctls: only those of a namespace that is not the host's", () => {
    expect(spec((c) => (c.linux.sysctl = { "net.ipv4.ping_group_range": "0 0" })).oci.linux.sysctl).toEqual({ "net.ipv4.ping_group_range": "0 0" });
    expect(refusal((c) => (c.linux.sysctl = { "vm.swappiness": "1" }))).toBe("linux.sysctl.vm.swappiness: not a namespaced sysctl; it would change the host");
    // Joined by path: allowed unless that path is the host's own namespace.
    expect(spec((c) => {
      c.linux.namespaces[2] = { type: "network", path: "/run/netns/x" };
      c.linux.sysctl = { "net.core.somaxconn": "1024" };
    }).oci.linux.sysctl).toBeDefined();
    expect(refusal((c) => {
      c.linux.namespaces[2] = { type: "network", path: "/proc/1/ns/net" };
      c.linux.sysctl = { "net.core.somaxconn": "1024" };
    })).toBe("linux.sysctl.net.core.somaxconn: needs a network namespace that is not the host's");
    expect(refusal((c) => (c.linux.sysctl = { "kernel.shmmax": "1" }))).toBe("linux.sysctl.kernel.shmmax: needs a ipc namespace that is not the host's");
  });

  test("bind mounts: a relative source is the bundle's; recursive unless 'bind'; cgroup2 is bunker's cgroup view", () => {
    const s = spec((c) => {
      c.mounts = [
        { destination: "/data", source: "data", options: ["bind", "ro"] },
        { destination: "/src", type: "bind", source: "/srv/src" },
        { destination: "/sys/fs/cgroup", type: "cgroup2", source: "cgroup" },
      ];
    });
    expect(s.oci.mounts).toEqual([
      { destination: "/data", type: "bind", source: "/b/data", options: ["bind", "ro"] },
      { destination: "/src", type: "bind", source: "/srv/src", options: ["rbind"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [] },
    ]);
    expect(refusal((c) => c.mounts.push({ destination: "/x", type: "tmpfs", options: ["tmpcopyup"] }))).toBe('mounts[1].options: "tmpcopyup" is not supported yet');
    expect(refusal((c) => c.mounts.push({ destination: "x", type: "tmpfs" }))).toBe('mounts[1].destination: "x" must be absolute');
    // Id-mapped binds: both maps, or the idmap/ridmap options; only binds.
    const m = [{ containerID: 1000, hostID: 0, size: 1 }];
    const idm = spec((c) => c.mounts.push({ destination: "/x", type: "bind", source: "/y", options: ["ridmap"], uidMappings: m, gidMappings: m }));
    expect(idm.oci.mounts.at(-1)).toEqual({ destination: "/x", type: "bind", source: "/y", options: ["ridmap", "rbind"], uidMappings: m, gidMappings: m });
    expect(refusal((c) => c.mounts.push({ destination: "/x", type: "bind", source: "/y", uidMappings: m }))).toBe("mounts[1].gidMappings: an id-mapped mount needs both uidMappings and gidMappings");
    expect(refusal((c) => c.mounts.push({ destination: "/x", type: "tmpfs", options: ["idmap"] }))).toBe("mounts[1].options: only bind mounts can be id-mapped");
  });

  test("hooks: absolute paths, argv, environment, a time limit of at least a second", () => {
    const s = spec((c) => (c.hooks = { createRuntime: [{ path: "/bin/hook", args: ["hook", "-v"], env: ["A=1"], timeout: 5 }], poststop: [] }));
    expect(s.oci.hooks).toEqual({ createRuntime: [{ path: "/bin/hook", args: ["hook", "-v"], env: ["A=1"], timeout: 5 }], poststop: [] });
    expect(refusal((c) => (c.hooks = { prestart: [{ path: "hook" }] }))).toBe('hooks.prestart[0].path: "hook" must be absolute');
    expect(refusal((c) => (c.hooks = { prestart: [{ path: "/h", timeout: 0 }] }))).toBe("hooks.prestart[0].timeout: must be an integer from 1");
  });

  test("properties the runtime spec does not define are ignored; fields it defines that bunker does not honour are refused by name", () => {
    expect(() => spec((c) => {
      c.org_example_extension = { anything: true };
      c.process.newField = 1;
    })).not.toThrow();
    expect(refusal((c) => (c.linux.intelRdt = { closID: "x" }))).toBe("linux.intelRdt: is not supported yet");
    expect(refusal((c) => (c.linux.personality = { domain: "LINUX64" }))).toBe('linux.personality.domain: "LINUX64" is not LINUX or LINUX32');
    expect(refusal((c) => (c.process.scheduler = { policy: "SCHED_ISO" }))).toMatch(/^process\.scheduler\.policy: "SCHED_ISO" is not one of SCHED_OTHER, /);
    expect(refusal((c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_NONE", priority: 0 }))).toBe('process.ioPriority.class: "IOPRIO_CLASS_NONE" is not IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE');
    expect(refusal((c) => (c.linux.resources = { rdma: { mlx5_0: { hcaHandles: 3 } } }))).toBe("linux.resources.rdma: is not supported yet");
    // Every namespace type may be joined by path; offsets are for a time namespace of its own.
    for (const type of ["user", "cgroup", "time"] as const) expect(spec((c) => c.linux.namespaces.push({ type, path: `/proc/9/ns/${type}` })).oci.linux.namespaces).toContainEqual({ type, path: `/proc/9/ns/${type}` });
    expect(refusal((c) => {
      c.linux.namespaces.push({ type: "time", path: "/proc/9/ns/time" });
      c.linux.timeOffsets = { boottime: { secs: 1 } };
    })).toBe("linux.timeOffsets: needs a time namespace of the container's own");
  });

  test("seccomp flags become seccomp(2)'s; the notification ones are refused by name", () => {
    const s = spec((c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"] }));
    expect(s.bunker.seccompFlags).toBe(2 | 4);
    expect(refusal((c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_NEW_LISTENER"] }))).toMatch(/^linux\.seccomp\.flags\[0\]: "SECCOMP_FILTER_FLAG_NEW_LISTENER" is not a flag bunker applies/);
  });

  test("a time namespace, with offsets per clock; offsets need the namespace, and name clocks it has", () => {
    const s = spec((c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 86400, nanosecs: 5 }, monotonic: { secs: -60 } };
    });
    expect(s.oci.linux.namespaces).toContainEqual({ type: "time" });
    expect(s.oci.linux.timeOffsets).toEqual({ boottime: { secs: 86400, nanosecs: 5 }, monotonic: { secs: -60, nanosecs: 0 } });
    expect(refusal((c) => (c.linux.timeOffsets = { monotonic: { secs: 1 } }))).toBe("linux.timeOffsets: needs a time namespace of the container's own");
    const withNs = (offsets: unknown) => (c: Config) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = offsets;
    };
    expect(refusal(withNs({ realtime: { secs: 1 } }))).toBe("linux.timeOffsets.realtime: is not a clock a time namespace offsets (monotonic, boottime)");
    expect(refusal(withNs({ boottime: { secs: 1, nanosecs: 1e9 } }))).toBe("linux.timeOffsets.boottime.nanosecs: must be an integer from 0 to 999999999");
  });

  test("an AppArmor profile or SELinux label is refused only where the host enforces one", () => {
    expect(() => spec((c) => (c.process.apparmorProfile = "x"))).not.toThrow();
    expect(refusal((c) => (c.process.apparmorProfile = "x"), ctx({ lsm: { apparmor: true, selinux: false } }))).toMatch(/^process\.apparmorProfile: AppArmor profiles are not supported/);
    expect(refusal((c) => (c.process.selinuxLabel = "x"), ctx({ lsm: { apparmor: false, selinux: true } }))).toMatch(/^process\.selinuxLabel: /);
  });

  test("types are checked, naming the field", () => {
    expect(refusal((c) => (c.process.args = "sh"))).toBe("process.args: must be a list of strings");
    expect(refusal((c) => (c.process.user.uid = -1))).toBe("process.user.uid: must be an integer from 0 to 4294967294");
    expect(refusal((c) => (c.ociVersion = "2.0.0"))).toBe('ociVersion: "2.0.0" is not a runtime-spec 1.x version');
    expect(refusal((c) => (c.process.env = ["NOEQUALS"]))).toBe('process.env[0]: "NOEQUALS" is not NAME=VALUE');
    expect(refusal((c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 10, hard: 5 }]))).toBe("process.rlimits[0]: the soft limit 10 is above the hard limit 5");
    expect(refusal((c) => (c.linux.resources = { memory: { swappiness: 200 } }))).toBe("linux.resources.memory.swappiness: 200 is above 100");
    expect(refusal((c) => (c.root.path = "missing"))).toBe("root.path: /b/missing is not a directory");
    expect(refusal((c) => {
      c.hostname = "h";
      c.linux.namespaces.pop();
    })).toBe("hostname: needs a uts namespace that is not the host's");
  });
});

// bunker run's flags to a spec, with the host's answers given: no file is read, no namespace looked at.

import { describe, expect, test } from "bun:test";
import { runFlags, runSpec, type RunHost } from "../../src/cli/runspec";
import { BunkerError } from "../../src/errors";

// With --host-root unless a root filesystem is named: the command is then the first word.
const flags = (v: Record<string, unknown>, args = ["sh"]) => runFlags(v.rootfs !== undefined ? v : { "host-root": true, ...v }, args, {});
const host = (over: Partial<RunHost> = {}): RunHost => ({
  id: "0123456789ab",
  uid: 0,
  callerEnv: {},
  identity: {},
  cgroups: true,
  net: { mode: "none" },
  volumeSources: [],
  envFiles: [],
  labelFiles: [],
  hostResolvConf: true,
  pinned: [],
  ...over,
});
const cgroupsPath = (id: string) => `/bunker/${id}`;

describe("runFlags: the flags' own syntax", () => {
  test("each mistake is a one-line 125 error, found without the host", () => {
    const refused = (v: Record<string, unknown>, args?: string[]) => {
      try {
        flags(v, args);
      } catch (e) {
        expect(e).toBeInstanceOf(BunkerError);
        expect((e as BunkerError).exitCode).toBe(125);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused({}, [])).toMatch(/no command given/);
    expect(refused({ "host-root": true, rootfs: "/r" })).toMatch(/--host-root and --rootfs both name the root filesystem/);
    expect(refused({ rootfs: "" })).toBe("--rootfs: the path is empty");
    expect(refused({ userns: "shared" })).toMatch(/unknown --userns mode "shared"/);
    expect(refused({ cgroups: "maybe" })).toMatch(/unknown --cgroups mode/);
    expect(refused({ restart: "sometimes" })).toMatch(/--restart sometimes: use no, on-failure\[:MAX\], always or unless-stopped/);
    expect(refused({ restart: "always:3" })).toMatch(/only on-failure takes a most number of retries/);
    expect(refused({ restart: "on-failure:x" })).toMatch(/the most retries is a number/);
    expect(refused({ restart: "always", rm: true })).toMatch(/--restart always and --rm do not go together/);
    expect(refused({ "cap-add": ["FLY"] })).toMatch(/FLY/);
    expect(refused({ "security-opt": ["apparmor=x"] })).toMatch(/unknown --security-opt/);
    expect(refused({ workdir: "src" })).toMatch(/must be absolute/);
    expect(refused({ volume: ["/a:/b:ro:x"] })).toMatch(/HOST:CONTAINER/);
    expect(refused({ "map-uid": "x" })).toMatch(/--map-uid x: not a user or group ID/);
  });

  test("paths of --pin and --join-ns are made absolute; -t gets TERM=xterm (the caller's is not taken) before -e", () => {
    const f = runFlags({ "host-root": true, pin: "pins", "join-ns": "/var/../srv/ns", tty: true, env: ["A=1"] }, ["sh"], {});
    expect(f.pin).toBe(`${process.cwd()}/pins`);
    expect(f.joinNs).toBe("/srv/ns");
    expect(f.env).toEqual(["TERM=xterm", "A=1"]);
    expect(runFlags({ "host-root": true, tty: true }, ["sh"], { TERM: "vt100" }).env).toEqual(["TERM=xterm"]);
    expect(runFlags({ "host-root": true }, ["sh"], { TERM: "vt100" }).env).toEqual([]);
  });
});

describe("runSpec: flags and the host's answers to a spec", () => {
  test("volumes take the host's absolute sources, read-only unless rw", () => {
    const s = runSpec(flags({ volume: ["./src:/src:rw", "/etc/x:/x"] }), host({ volumeSources: ["/home/u/src", "/etc/x"] }), cgroupsPath);
    const binds = s.oci.mounts.filter((m) => m.destination === "/src" || m.destination === "/x");
    expect(binds).toEqual([
      { destination: "/src", type: "bind", source: "/home/u/src", options: ["rbind", "rw"] },
      { destination: "/x", type: "bind", source: "/etc/x", options: ["rbind", "ro"] },
    ]);
  });

  test("the working directory: -w is made if missing; a user's home may be missing; the sandbox starts where the caller is", () => {
    const w = runSpec(flags({ workdir: "/work" }), host({ rootfs: { path: "/r", hasEtc: true } }), cgroupsPath);
    expect([w.oci.process.cwd, w.bunker.cwd]).toEqual(["/work", { create: true, optional: false }]);
    const home = runSpec(flags({}), host({ rootfs: { path: "/r", hasEtc: true }, identity: { account: { name: "u", home: "/home/u" } } }), cgroupsPath);
    expect([home.oci.process.cwd, home.bunker.cwd]).toEqual(["/home/u", { create: false, optional: true }]);
    const sandbox = runSpec(flags({}), host({ sandboxCwd: "/srv/project" }), cgroupsPath);
    expect([sandbox.oci.process.cwd, sandbox.oci.root.path, sandbox.oci.root.readonly]).toEqual(["/srv/project", "/", true]);
  });

  test("--join-ns: pinned ipc and uts are joined by path, and the pinned UTS namespace keeps its hostname", () => {
    const s = runSpec(flags({ "join-ns": "/pins" }), host({ pinned: ["ipc", "uts"] }), cgroupsPath);
    expect(s.oci.linux.namespaces.filter((n) => n.path)).toEqual([
      { type: "ipc", path: "/pins/ipc" },
      { type: "uts", path: "/pins/uts" },
    ]);
    expect(s.oci.hostname).toBeUndefined();
    const named = runSpec(flags({ "join-ns": "/pins", hostname: "box" }), host({ pinned: ["uts"] }), cgroupsPath);
    expect(named.oci.hostname).toBe("box");
  });

  test("a cgroup of its own brings the default PID limit (unless one is given) and, as root, the device rules", () => {
    const s = runSpec(flags({}), host(), cgroupsPath);
    expect(s.oci.linux.cgroupsPath).toBe("/bunker/0123456789ab");
    expect(s.oci.linux.resources?.pids?.limit).toBe(2048);
    expect(s.oci.linux.resources?.devices?.length).toBeGreaterThan(0);
    const rootless = runSpec(flags({ "pids-limit": "10" }), host({ uid: 1000 }), cgroupsPath);
    expect([rootless.oci.linux.resources?.pids?.limit, rootless.oci.linux.resources?.devices]).toEqual([10, undefined]);
    const none = runSpec(flags({}), host({ cgroups: false }), cgroupsPath);
    expect([none.oci.linux.cgroupsPath, none.oci.linux.resources]).toEqual([undefined, undefined]);
  });

  test("--security-opt seccomp=FILE uses the profile the host read; --privileged every capability", () => {
    const profile = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [] } as unknown as NonNullable<RunHost["seccompProfile"]>;
    const s = runSpec(flags({ "security-opt": ["seccomp=/p.json"] }), host({ seccompProfile: profile }), cgroupsPath);
    expect(s.oci.linux.seccomp).toBe(profile as never);
    const p = runSpec(flags({ privileged: true }), host(), cgroupsPath);
    expect(p.oci.process.capabilities?.bounding?.length).toBeGreaterThan(38);
  });
});

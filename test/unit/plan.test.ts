import { describe, expect, test } from "bun:test";
import type { ChildProgram } from "../../src/child/program";
import { cloneFlags, execCandidates, planContainer } from "../../src/runtime/plan";
import { hostsFile } from "../../src/runtime/facts";
import { createSpec } from "../../src/spec/defaults";
import { CLONE } from "../../src/sys/constants";

const facts = {
  etcFiles: new Map([["hostname", "box\n"], ["hosts", "127.0.0.1\tlocalhost\n"]]),
  etcTargetExists: () => true,
  sourceIsDir: (p: string) => !p.includes("."),
};
const handshake = { syncRead: 5, syncWrite: 6 };

function plan(o: Partial<Parameters<typeof createSpec>[0]> = {}): { p: ChildProgram; descs: string[]; calls: string[] } {
  const spec = createSpec({ id: "abcdef012345", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs", rootfsHasEtc: true, ...o });
  const p = planContainer(spec, handshake, facts, [2, 9, 13, 15, 15]);
  return { p, descs: p.steps.map((s) => s.desc), calls: p.steps.map((s) => s.call) };
}

describe("the child program plan", () => {
  test("starts with parent-death signal, closing the parent's pipe end, waiting for the go-ahead, then not dumpable", () => {
    const { p } = plan();
    expect(p.steps.slice(0, 6).map((s) => [s.call, s.args.slice(0, 2)])).toEqual([
      ["prctl", [1, 9]],
      ["close", [6]],
      ["read", [5, expect.any(Number)]],
      // the cgroup namespace, once bunker has placed the child in its cgroups
      ["unshare", [0x02000000]],
      ["fcntl", [5, expect.any(Number)]],
      // not dumpable: /proc/PID/exe would lead to bunker's executable; only after bunker wrote the ID maps
      ["prctl", [4, 0]],
    ]);
    expect(p.steps[2]!.opts.expect).toEqual({ value: 1, errno: 125 });
  });

  test("makes mounts private first; every mount made before pivot_root in the spec's order, attached after the old root's detach in that order", () => {
    const { calls, descs } = plan();
    expect(descs.indexOf("make / a private mount tree")).toBe(calls.indexOf("mount"));
    const pivot = calls.indexOf("pivot_root");
    const detach = descs.indexOf("detach the old root");
    expect(detach).toBe(pivot + 1);
    expect(descs.indexOf("open /srv/rootfs for binding")).toBeLessThan(pivot);
    // proc, the /dev tmpfs, devpts, shm, mqueue, sysfs: each made (fsmount) before the pivot...
    const made = descs.map((d, i) => [d, i] as const).filter(([d]) => /^mount the \w+ filesystem$/.test(d)).map(([d, i]) => [d.split(" ")[2], i] as const);
    expect(made.map(([t]) => t)).toEqual(["proc", "tmpfs", "devpts", "tmpfs", "mqueue", "sysfs"]);
    expect(made.every(([, i]) => i < pivot)).toBe(true);
    // ...and attached, in the same order, only after the old root is gone.
    const attached = descs.map((d, i) => [d, i] as const).filter(([d, i]) => /^mount \w+ on \/\S+$/.test(d) && calls[i] === "move_mount");
    expect(attached.map(([d]) => d)).toEqual(["mount proc on /proc", "mount tmpfs on /dev", "mount devpts on /dev/pts", "mount tmpfs on /dev/shm", "mount mqueue on /dev/mqueue", "mount sysfs on /sys"]);
    expect(attached.every(([, i]) => i > detach)).toBe(true);
    expect(descs.indexOf("bind-mount /etc/hostname")).toBeGreaterThan(detach);
    expect(descs[detach + 1]).toBe("change directory to /");
  });

  test("creates the six device nodes and the /dev links", () => {
    const { descs } = plan();
    for (const d of ["null", "zero", "full", "random", "urandom", "tty"]) expect(descs).toContain(`create device /dev/${d}`);
    expect(descs).toContain("link /dev/ptmx to pts/ptmx");
    expect(descs).toContain("link /dev/fd to /proc/self/fd");
  });

  test("marks inherited descriptors close-on-exec before any seccomp filter, whose profile may not allow close_range", () => {
    const spec = createSpec({ id: "abcdef012345", args: ["ls"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs", rootfsHasEtc: true });
    spec.oci.process.noNewPrivileges = false;
    const p = planContainer(spec, handshake, facts, [2], { filter: { bytes: new Uint8Array(8), what: "test" } });
    const calls = p.steps.map((s) => s.call);
    expect(calls.indexOf("close_range")).toBeGreaterThan(-1);
    expect(calls.indexOf("close_range")).toBeLessThan(calls.indexOf("seccomp"));
  });

  test("ends with the execve attempts along PATH, after signals are unblocked", () => {
    const spec = createSpec({ id: "abcdef012345", args: ["ls", "-l"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs", rootfsHasEtc: true });
    const p = planContainer(spec, handshake, facts, [2], { filter: { bytes: new Uint8Array(8), what: "test" } });
    const calls = p.steps.map((s) => s.call);
    const execs = p.steps.filter((s) => s.call === "execve");
    expect(execs.length).toBe(6);
    expect(execs.every((s) => s.opts.continueOnFail && s.opts.exec?.command === "ls")).toBe(true);
    // Then no_new_privs and the seccomp filter, the last steps before execve.
    expect(calls.slice(-10, -6)).toEqual(["umask", "rt_sigprocmask", "prctl", "seccomp"]);
  });

  test("resets each signal bunker handles or ignores, once; SIGKILL cannot be", () => {
    const { p } = plan();
    const sigs = p.steps.filter((s) => s.call === "rt_sigaction").map((s) => s.args[0]);
    expect(sigs).toEqual([2, 13, 15]);
  });

  test("without a rootfs: the host's tree copied, made read-only, pivoted into; its /proc, /dev, /tmp, /run replaced", () => {
    const { descs, calls, p } = plan({ rootfs: undefined, cwd: "/home/me", cwdOptional: true });
    const pivot = calls.indexOf("pivot_root");
    const open = descs.indexOf("open / for binding");
    expect(open).toBeLessThan(pivot);
    expect(descs[open + 1]).toBe("set mount flags on /");
    for (const d of ["/proc", "/sys", "/tmp", "/run"]) {
      const unmount = descs.indexOf(`unmount the host's ${d}`);
      expect(unmount).toBeGreaterThan(pivot);
      expect(unmount).toBeLessThan(descs.findIndex((x, i) => i > unmount && x.endsWith(` on ${d}`)));
    }
    const cd = p.steps.find((s) => s.desc === "change directory to /home/me")!;
    expect(cd.opts.ignore).toEqual([2, 20, 13]);
  });

  test("a user namespace: binds the host's device nodes instead of mknod, and becomes root inside after the maps", () => {
    const maps = { uid: [{ containerID: 0, hostID: 1000, size: 1 }], gid: [{ containerID: 0, hostID: 1000, size: 1 }] };
    const { descs, calls } = plan({ userns: { ...maps, setup: { writer: "direct" }, setgroups: false } });
    expect(descs).toContain("open /dev/null for binding");
    expect(descs).toContain("bind-mount onto /dev/null");
    expect(descs.some((d) => d.startsWith("create device"))).toBe(false);
    expect(descs).not.toContain("drop the host's supplementary groups");
    const read = descs.indexOf("wait for bunker to finish setting up");
    expect(calls.indexOf("setresuid")).toBeGreaterThan(read);
    expect(calls.indexOf("setresuid")).toBeLessThan(calls.indexOf("mount"));
  });

  test("--user switches groups, then group, then user, after the mounts; the parent check follows", () => {
    const { calls, p } = plan({ user: { uid: 1000, gid: 100, additionalGids: [100, 27] } });
    const i = calls.lastIndexOf("setgroups");
    expect(calls.slice(i, i + 5)).toEqual(["setgroups", "setresgid", "setresuid", "prctl", "read"]);
    expect(p.steps[i]!.args[0]).toBe(2);
    expect(i).toBeGreaterThan(calls.indexOf("pivot_root"));
  });

  test("-w creates the working directory before switching user, and enters it after", () => {
    const { descs } = plan({ cwd: "/src/app", createCwd: true, user: { uid: 5, gid: 5 } });
    expect(descs.indexOf("create working directory /src/app")).toBeLessThan(descs.indexOf("set user ID to 5"));
    expect(descs.indexOf("change directory to /src/app")).toBeGreaterThan(descs.indexOf("set user ID to 5"));
  });

  test("volumes are opened before pivot_root and attached after it, read-only unless rw", () => {
    const { descs, p } = plan({
      extraMounts: [
        { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"] },
        { destination: "/out", type: "bind", source: "/srv/out", options: ["rbind", "rw"] },
      ],
    });
    const pivot = descs.indexOf("pivot_root into /tmp/root");
    expect(descs.indexOf("open /srv/data for binding")).toBeLessThan(pivot);
    expect(descs[descs.indexOf("open /srv/data for binding") + 1]).toBe("set mount flags on /srv/data");
    expect(descs[descs.indexOf("open /srv/out for binding") + 1]).not.toBe("set mount flags on /srv/out");
    expect(descs.indexOf("bind-mount onto /data")).toBeGreaterThan(pivot);
    const open = p.steps.find((s) => s.desc === "open /srv/data for binding")!;
    expect(Number(open.args[2]) & 0x8000).toBe(0x8000);
  });

  test("--network host: no network namespace and no lo set-up; otherwise lo comes up", () => {
    const host = plan({ network: "host" });
    expect(host.descs).not.toContain("bring lo up");
    const spec = createSpec({ id: "x", args: ["sh"], network: "host", callerEnv: {} });
    expect(cloneFlags(spec) & CLONE.NEWNET).toBe(0);
    expect(plan().descs).toContain("bring lo up");
    const none = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {} });
    // The cgroup namespace is not among them: it is made after the child is placed in its cgroups.
    const want = CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | CLONE.NEWNET;
    expect(cloneFlags(none)).toBe(want);
  });

  test("a time namespace is no clone flag (its bit is the exit signal's): made by unshare, offset, then entered, before any mount", () => {
    const spec = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs", rootfsHasEtc: true });
    spec.oci.linux.namespaces.push({ type: "time" });
    spec.oci.linux.timeOffsets = { boottime: { secs: 86400, nanosecs: 0 } };
    expect(cloneFlags(spec) & 0xff).toBe(0);
    const p = planContainer(spec, handshake, facts, [2]);
    const descs = p.steps.map((s) => s.desc);
    const made = descs.indexOf("make the time namespace");
    expect(p.steps[made]!.args).toEqual([CLONE.NEWTIME]);
    expect(descs.slice(made + 1, made + 6)).toEqual([
      "open /proc/self/timens_offsets",
      "offset the time namespace's clocks (boottime 86400 0)",
      "close /proc/self/timens_offsets",
      "open the new time namespace",
      "enter the new time namespace",
    ]);
    expect(made).toBeLessThan(descs.indexOf("pivot_root into /tmp/root"));
    // Without offsets, none are written.
    delete spec.oci.linux.timeOffsets;
    expect(planContainer(spec, handshake, facts, [2]).steps.map((s) => s.desc)).not.toContain("open /proc/self/timens_offsets");
  });

  test("an image's root: overlayfs of its layers, top first, over the container's own; past fsconfig's 255 bytes, one layer at a time", () => {
    const image = (lower: string[], driver: "overlay" | "fuse-overlayfs" | "copy" = "overlay") => {
      const spec = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/store/containers/x/upper", rootfsHasEtc: true });
      spec.bunker.rootMode = "image";
      spec.bunker.image = { id: "sha256:1", ref: "i", lower, upper: "/store/containers/x/upper", work: "/store/containers/x/work", userxattr: false, driver, merged: "/store/containers/x/merged" };
      return planContainer(spec, handshake, facts, [2]).steps.map((s) => s.desc);
    };
    // fuse-overlayfs's mount and a copy are bound as a directory is, no overlay made.
    for (const driver of ["fuse-overlayfs", "copy"] as const) {
      const bound = image(["/store/layers/a"], driver);
      expect(bound).toContain("open /store/containers/x/merged for binding");
      expect(bound.some((d) => d.includes("overlay"))).toBe(false);
    }
    const two = image(["/store/layers/a", "/store/layers/b"]);
    expect(two).toContain("stack the image's 2 layers");
    expect(two.indexOf("mount the overlay filesystem")).toBeLessThan(two.indexOf("pivot_root into /tmp/root"));
    const many = image(Array.from({ length: 5 }, (_, i) => `/store/layers/${String(i).repeat(64)}`));
    expect(many.filter((d) => d.startsWith("stack the image's layer"))).toEqual([5, 4, 3, 2, 1].map((n) => `stack the image's layer ${n} of 5 (lowerdir+ needs Linux 6.8)`));
  });

  test("the cgroup namespace is made after bunker releases the child, before any mount", () => {
    const { descs } = plan();
    const released = descs.indexOf("wait for bunker to finish setting up");
    const cgroupns = descs.indexOf("create the cgroup namespace");
    expect(released).toBeGreaterThanOrEqual(0);
    expect(cgroupns).toBeGreaterThan(released);
    expect(cgroupns).toBeLessThan(descs.findIndex((d) => d.startsWith("mount ")));
  });

  test("--pin: once every namespace exists the child says so and waits to be released again", () => {
    const { descs } = plan();
    expect(descs).not.toContain("tell bunker the namespaces are made");
    const spec = createSpec({ id: "x", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs" });
    const pinned = planContainer(spec, { ...handshake, errWrite: 8 }, facts, [], { pin: true });
    const d = pinned.steps.map((s) => s.desc);
    const made = d.indexOf("tell bunker the namespaces are made");
    expect(made).toBe(d.indexOf("create the cgroup namespace") + 1);
    expect(d[made + 1]).toBe("wait for bunker to pin the namespaces");
    expect(pinned.steps[made]!.args[0]).toBe(8);
  });

  test("sets the hostname and an empty domain name", () => {
    const { descs } = plan({ hostname: "box" });
    expect(descs).toContain("set hostname to box");
    expect(descs).toContain('set domain name to ""');
  });

  test("skips /etc files when the rootfs has no /etc", () => {
    const { descs } = plan({ rootfsHasEtc: false });
    expect(descs.some((d) => d.includes("/etc/"))).toBe(false);
  });
});

describe("execCandidates", () => {
  test("tries each PATH entry in order; a slash means no search", () => {
    expect(execCandidates("ls", "/a:/b/:")).toEqual(["/a/ls", "/b/ls", "./ls"]);
    expect(execCandidates("./x", "/a")).toEqual(["./x"]);
    expect(execCandidates("/bin/sh", undefined)).toEqual(["/bin/sh"]);
    expect(execCandidates("sh", undefined)[0]).toBe("/usr/local/sbin/sh");
  });
});

describe("hostsFile", () => {
  test("a minimal file naming the container", () => {
    expect(hostsFile("box")).toContain("127.0.0.1\tlocalhost\n");
    expect(hostsFile("box")).toEndWith("127.0.1.1\tbox\n");
  });
  test("with the host's network, the host's entries plus the container's name", () => {
    expect(hostsFile("box", "10.0.0.1 db")).toBe("10.0.0.1 db\n127.0.1.1\tbox\n");
  });
});

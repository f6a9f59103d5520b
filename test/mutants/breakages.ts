// The breakages test/mutate.ts applies, one at a time, to a copy of the
// repository: each removes one protection or feature with a small, exact
// text replacement in one source file, and names the test files that must
// then fail. A replacement whose text is no longer in the file is an error
// of the list, which has to follow the source as it changes.

export interface Edit {
  /** Text that occurs exactly once in the file. */
  from: string;
  to: string;
}

export interface Breakage {
  /** Short name for --only. */
  name: string;
  /** The protection or feature it removes, in words. */
  removes: string;
  /** The source file, from the repository's root. */
  file: string;
  edits: Edit[];
  /** Test files that must notice (some test in them fails). */
  tests: string[];
  /** Runs the tests under the pure cgroup v2 kernel of test/vm (what only cgroup v2 shows). */
  vm?: boolean;
  /** It removes a clean-up: the leak check failing is the effect to see. */
  leaks?: boolean;
}

const ESCAPE = "test/security/escape.test.ts";
const RUN = "test/integration/run.test.ts";
const SECURITY = "test/integration/security.test.ts";
const EXEC = "test/integration/exec.test.ts";
const TTY = "test/integration/tty.test.ts";
const NATIVE = "test/unit/native.test.ts";
const ENTERING = "test/security/entering.test.ts";
const DEVICES = "test/security/devices.test.ts";
const PINS = "test/security/pins.test.ts";
const HOSTILE = "test/security/hostile-files.test.ts";
const NET_SECURITY = "test/security/network.test.ts";
const SETUID = "test/security/setuid.test.ts";
const TERMINAL = "test/security/terminal.test.ts";
const CGROUPS = "test/integration/cgroups.test.ts";
const ROOTLESS = "test/integration/rootless.test.ts";
const RECORDS = "test/integration/records.test.ts";
const MOUNTPOINTS = "test/integration/mountpoints.test.ts";
const FEATURES = "test/integration/features.test.ts";
const FEATURES_ROOTLESS = "test/integration/features-rootless.test.ts";
const OCI = "test/integration/oci.test.ts";
const UNPACK = "test/integration/image-unpack.test.ts";
const IMAGES = "test/integration/images.test.ts";
const REGISTRY = "test/clients/registry.test.ts";
const ARCHIVES = "test/integration/image-archive.test.ts";
const DRIVERS = "test/integration/image-drivers.test.ts";
const LOGS = "test/integration/logs.test.ts";
const RESTART = "test/integration/restart.test.ts";
const ATTACH = "test/integration/attach.test.ts";
const RUN_FLAGS = "test/integration/run-flags.test.ts";
const SURFACE = "test/integration/surface.test.ts";
const COMPLETION = "test/unit/completion.test.ts";
const VOLUMES = "test/integration/volumes.test.ts";
const NETWORKS = "test/integration/networks.test.ts";
const HEALTH = "test/integration/health.test.ts";
const EVENTS = "test/integration/events.test.ts";
const RUN_FLAGS_ROOTLESS = "test/integration/run-flags-rootless.test.ts";
const CP_SECURITY = "test/security/cp.test.ts";

const one = (from: string, to: string): Edit[] => [{ from, to }];

export const BREAKAGES: Breakage[] = [
  // The mount layout.
  {
    name: "noexec-option",
    removes: "noexec on the mounts made from the spec's options (proc, sysfs, /dev/shm, /dev/mqueue, /dev/pts, binds)",
    file: "src/rootfs/options.ts",
    edits: one("  noexec: MOUNT_ATTR.NOEXEC,\n", "  noexec: 0,\n"),
    tests: [RUN],
  },
  {
    name: "nosuid-option",
    removes: "nosuid on the mounts made from the spec's options (/dev, /dev/shm, /dev/pts, /dev/mqueue, binds)",
    file: "src/rootfs/options.ts",
    edits: one("  nosuid: MOUNT_ATTR.NOSUID,\n", "  nosuid: 0,\n"),
    tests: [RUN],
  },
  {
    name: "nodev-option",
    removes: "nodev on the mounts made from the spec's options (/dev/shm, /dev/mqueue, binds)",
    file: "src/rootfs/options.ts",
    edits: one("  nodev: MOUNT_ATTR.NODEV,\n", "  nodev: 0,\n"),
    tests: [RUN],
  },
  {
    name: "nodev-rootfs",
    removes: "nodev on the root filesystem and the no-rootfs view of the host",
    file: "src/rootfs/plan.ts",
    edits: one("openTree(p, facts, dir, true, MOUNT_ATTR.NODEV | (readonly ? MOUNT_ATTR.RDONLY : 0), true)", "openTree(p, facts, dir, true, readonly ? MOUNT_ATTR.RDONLY : 0, true)"),
    tests: [DEVICES],
  },
  {
    name: "rootfs-slash-readonly",
    removes: "a writable --rootfs / (it becomes read-only)",
    file: "src/rootfs/plan.ts",
    edits: one('enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot);', 'enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot || spec.oci.root.path === "/");'),
    tests: [RUN],
  },
  {
    name: "host-view-writable",
    removes: "the read-only view of the host without --rootfs",
    file: "src/rootfs/plan.ts",
    edits: one('enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot);', 'enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), false);'),
    tests: [RUN],
  },
  {
    name: "mount-before-pivot",
    removes: "every mount made after pivot_root: tmpfs is mounted through the rootfs's /proc, /dev and /sys before it",
    file: "src/rootfs/plan.ts",
    edits: one(
      'const rootFlags = enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot);',
      'if (!hostRoot) for (const d of ["proc", "dev", "sys"]) p.call(`mount tmpfs on ${d}`, "mount", [p.str("tmpfs"), p.str(`${spec.oci.root.path}/${d}`), p.str("tmpfs"), 0, 0], { ignore: [Errno.ENOENT, Errno.ENOTDIR] });\n  const rootFlags = enterTree(p, facts, hostRoot ? "/" : (spec.bunker.image ?? spec.oci.root.path), hostRoot);',
    ),
    tests: [ESCAPE, RUN],
  },
  {
    name: "old-root-attached",
    removes: "detaching the host's root after pivot_root",
    file: "src/rootfs/plan.ts",
    edits: one('p.call("detach the old root", "umount2", [p.str("."), MNT_DETACH]);', 'p.call("detach the old root", "getpid", []);'),
    tests: [RUN],
  },
  {
    name: "read-only-flag",
    removes: "--read-only",
    file: "src/rootfs/plan.ts",
    edits: one("if (!hostRoot && spec.oci.root.readonly) {", "if (!hostRoot && spec.oci.root.readonly && false) {"),
    tests: [SECURITY],
  },
  {
    name: "sys-writable",
    removes: "the read-only /sys",
    file: "src/spec/defaults.ts",
    edits: one('{ destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] }', '{ destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev"] }'),
    tests: [RUN],
  },
  {
    name: "unmask-acpi",
    removes: "the mask over /proc/acpi",
    file: "src/spec/defaults.ts",
    edits: one('  "/proc/acpi",\n', ""),
    tests: [RUN, ESCAPE],
  },
  {
    name: "unmask-files",
    removes: "the masks over masked paths that are files (/proc/keys, /proc/timer_list, /proc/kcore, ...)",
    file: "src/rootfs/masked.ts",
    edits: one('p.call(`mask ${path} (a file)`, "mount", [p.str("/dev/null"), p.str(path), 0, MS.BIND, 0], { ignore: MISSING });', ""),
    tests: [ESCAPE, SECURITY],
  },
  {
    name: "unmask-dirs",
    removes: "the masks over masked paths that are directories (/sys/firmware, /proc/acpi, ...)",
    file: "src/rootfs/masked.ts",
    edits: one('p.call(`mask ${path} (a directory)`, "mount", [p.str("tmpfs"), p.str(path), p.str("tmpfs"), MS.RDONLY, 0], { ignore: MISSING });', ""),
    tests: [ESCAPE, SECURITY],
  },
  {
    name: "readonly-paths-writable",
    removes: "the read-only flag on /proc/sys, /proc/sysrq-trigger, /proc/bus, /proc/fs, /proc/irq",
    file: "src/rootfs/masked.ts",
    edits: one("const attr = p.arena.words([MOUNT_ATTR.RDONLY, 0, 0, 0]);", "const attr = p.arena.words([0, 0, 0, 0]);"),
    tests: [ESCAPE, SECURITY],
  },
  {
    name: "proc-sys-writable",
    removes: "the read-only /proc/sys",
    file: "src/spec/defaults.ts",
    edits: one('"/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]', '"/proc/irq", "/proc/sysrq-trigger"]'),
    tests: [ESCAPE, SECURITY],
  },
  {
    // A kernel without magic SysRq (as on some build hosts) has no /proc/sysrq-trigger: Debian's has.
    name: "sysrq-writable",
    removes: "the read-only /proc/sysrq-trigger",
    file: "src/spec/defaults.ts",
    edits: one('"/proc/sys", "/proc/sysrq-trigger"]', '"/proc/sys"]'),
    tests: [SECURITY],
    vm: true,
  },
  {
    name: "host-mounts-kept",
    removes: "detaching the host's mounts below the no-rootfs view's /tmp, /run and /dev",
    file: "src/rootfs/hostmounts.ts",
    edits: one("  for (const m of below) {", "  for (const m of below.slice(below.length)) {"),
    tests: [RUN],
  },

  // Capabilities, no_new_privs, seccomp.
  {
    name: "bounding-keeps-sys-admin",
    removes: "dropping CAP_SYS_ADMIN from the bounding set",
    file: "src/security/plan.ts",
    edits: one("if (name && c.bounding.includes(name)) continue;", 'if (name && (c.bounding.includes(name) || name === "SYS_ADMIN")) continue;'),
    tests: [SECURITY],
  },
  {
    name: "default-caps-net-admin",
    removes: "docker's default capability set (CAP_NET_ADMIN is kept)",
    file: "src/security/caps.ts",
    edits: one('"NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",', '"NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE", "NET_ADMIN",'),
    tests: [SECURITY],
  },
  {
    name: "non-root-keeps-caps",
    removes: "dropping capabilities for a non-root --user",
    file: "src/spec/defaults.ts",
    edits: one("const sets = uid === 0 ? sec.caps : sec.added.filter((c) => sec.caps.includes(c));", "const sets = sec.caps;"),
    tests: [SECURITY],
  },
  {
    name: "no-new-privs",
    removes: "no_new_privs (the filter is then installed while CAP_SYS_ADMIN... is still held)",
    file: "src/runtime/plan.ts",
    edits: [
      { from: "if (!proc.noNewPrivileges && filter) planSeccomp(p, filter.bytes, filter.what, filter.flags);", to: "if (filter) planSeccomp(p, filter.bytes, filter.what, filter.flags);" },
      { from: "  if (!spec.oci.process.noNewPrivileges) return;\n  planNoNewPrivs(p);\n  if (filter) planSeccomp(p, filter.bytes, filter.what, filter.flags);", to: "  return;" },
    ],
    tests: [ESCAPE, SECURITY],
  },
  {
    name: "seccomp-not-loaded",
    removes: "installing the seccomp filter",
    file: "src/security/plan.ts",
    edits: one('"seccomp", [SECCOMP_SET_MODE_FILTER, flags, p.arena.bytes(fprog)]);', '"getpid", []);'),
    tests: [SECURITY],
  },
  {
    name: "seccomp-allows-mount",
    removes: "the filter's refusal of mount",
    file: "src/security/seccomp/profile.ts",
    edits: one("mkdirat mlock mlock2", "mkdirat mlock mlock2 mount"),
    tests: [SECURITY, ESCAPE],
  },
  {
    name: "seccomp-allows-setns",
    removes: "the filter's refusal of setns",
    file: "src/security/seccomp/profile.ts",
    edits: one("mkdirat mlock mlock2", "mkdirat mlock mlock2 setns"),
    tests: [SECURITY, ESCAPE],
  },
  {
    name: "seccomp-allows-unshare",
    removes: "the filter's refusal of unshare",
    file: "src/security/seccomp/profile.ts",
    edits: one("mkdirat mlock mlock2", "mkdirat mlock mlock2 unshare"),
    tests: [SECURITY],
  },
  {
    name: "seccomp-clone-namespaces",
    removes: "the filter's refusal of clone with namespace flags",
    file: "src/security/seccomp/profile.ts",
    edits: one("export const CLONE_NAMESPACE_FLAGS = CLONE.NEWNS |", "export const CLONE_NAMESPACE_FLAGS = 0 && CLONE.NEWNS |"),
    tests: [ESCAPE],
  },
  {
    name: "seccomp-allows-tiocsti",
    removes: "the filter's refusal of TIOCSTI",
    file: "src/security/seccomp/profile.ts",
    edits: one('{ names: ["ioctl"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 0xffffffff, valueTwo: TIOCSTI, op: "SCMP_CMP_MASKED_EQ" }] },\n', ""),
    tests: [ESCAPE],
  },
  {
    name: "seccomp-allows-block-mknod",
    removes: "the filter's refusal of mknod for block devices",
    file: "src/security/seccomp/profile.ts",
    edits: one("for (const type of [0, S.IFIFO, S.IFREG, S.IFSOCK]) {", "for (const type of [0, S.IFIFO, S.IFREG, S.IFSOCK, S.IFBLK]) {"),
    tests: [ESCAPE],
  },
  {
    name: "seccomp-allows-vsock",
    removes: "the filter's refusal of AF_VSOCK sockets",
    file: "src/security/seccomp/profile.ts",
    edits: one('{ names: ["socket"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0xffffffff, valueTwo: AF_VSOCK, op: "SCMP_CMP_MASKED_EQ" }] },\n', ""),
    tests: [ESCAPE],
  },
  {
    name: "seccomp-x32",
    removes: "the filter's refusal of x32 system calls",
    file: "src/security/seccomp/compile.ts",
    edits: one("    asm.jump(BPF.JGE_K, X32_SYSCALL_BIT, 0, 1);\n    asm.ret(refuse);\n", ""),
    tests: [ESCAPE],
  },
  {
    name: "seccomp-foreign-arch",
    removes: "the filter's refusal of system calls of another architecture (i386 through int 0x80)",
    file: "src/security/seccomp/compile.ts",
    edits: one("  asm.jump(BPF.JEQ_K, AUDIT_ARCH[o.arch], 1, 0);\n  asm.ret(refuse);\n", ""),
    tests: [ESCAPE],
  },
  {
    name: "custom-profile-ignored",
    removes: "a custom seccomp profile (the default filter is used instead)",
    file: "src/security/seccomp/index.ts",
    edits: one('const profile = mode === "custom" ? (spec.oci.linux.seccomp as Parameters<typeof compile>[0]) : defaultProfile();', "const profile = defaultProfile();"),
    tests: [SECURITY],
  },
  {
    name: "rlimits-ignored",
    removes: "--ulimit",
    file: "src/security/plan.ts",
    edits: one('p.call(`set the ${l.name} limit to ${show(l.soft)}:${show(l.hard)}`, "prlimit64", [0, res, addr, 0]);', 'p.call(`set the ${l.name} limit to ${show(l.soft)}:${show(l.hard)}`, "getpid", []);'),
    tests: [SECURITY],
  },

  // The process that runs the command, and the handshake before it.
  {
    name: "no-session",
    removes: "the container's own session (setsid)",
    file: "src/runtime/plan.ts",
    edits: one('p.call("start a session", "setsid", []);', 'p.call("start a session", "getpid", []);'),
    tests: [ESCAPE],
  },
  {
    name: "exec-no-session",
    removes: "exec's own session (setsid)",
    file: "src/runtime/exec.ts",
    edits: one("  else planSession(p);\n", ""),
    tests: [ESCAPE],
  },
  {
    name: "dumpable",
    removes: "making the set-up process not dumpable",
    file: "src/runtime/plan.ts",
    edits: one('p.call("make this process not dumpable", "prctl", [PR_SET_DUMPABLE, 0, 0, 0, 0]);', 'p.call("make this process not dumpable", "getpid", []);'),
    tests: [ESCAPE],
  },
  {
    name: "inherited-fds",
    removes: "closing inherited descriptors at execve (close_range)",
    file: "src/runtime/plan.ts",
    edits: one("  planInheritedFds(p, extras.preserveFds ?? 0);\n", ""),
    tests: [ESCAPE, RUN],
  },
  {
    name: "exec-inherited-fds",
    removes: "closing inherited descriptors at exec's execve (close_range)",
    file: "src/runtime/exec.ts",
    edits: one("  planInheritedFds(p, req.preserveFds ?? 0);\n", ""),
    tests: [EXEC, ESCAPE],
  },
  {
    name: "signal-reset",
    removes: "resetting the signal handlers and mask bunker had",
    file: "src/runtime/plan.ts",
    edits: one("  for (const sig of new Set(signals)) {", "  for (const sig of new Set(signals.slice(signals.length))) {"),
    tests: [RUN],
  },
  {
    name: "pdeathsig-after-user-switch",
    removes: "asking again to die with bunker after a change of user (the kernel clears it)",
    file: "src/child/liveness.ts",
    edits: one('p.call("ask to be killed when bunker dies", "prctl", [PR_SET_PDEATHSIG, SIGNALS.SIGKILL, 0, 0, 0]);', 'p.call("ask to be killed when bunker dies", "getpid", []);'),
    tests: [RUN],
  },
  {
    name: "sync-eof-goes-on",
    removes: "stopping when bunker closes the sync pipe without releasing the child (ECANCELED)",
    file: "src/runtime/plan.ts",
    edits: one('p.call("wait for bunker to finish setting up", "read", [h.syncRead, buf, 1], { expect: { value: 1, errno: Errno.ECANCELED } });', 'p.call("wait for bunker to finish setting up", "read", [h.syncRead, buf, 1]);'),
    tests: [NATIVE],
  },
  {
    name: "spawn-no-close-wait",
    removes: "closing the sync pipe and reaping the child when the set-up fails before its release",
    file: "src/runtime/spawn.ts",
    edits: one("        closePipes(pipes);\n        native.forwardTo(-1);\n        const status = waitFor(pid);", "        native.forwardTo(-1);\n        const status = 0;"),
    tests: [NATIVE],
  },
  {
    name: "signal-after-exec-kills",
    removes: "passing on a signal that arrives once the command runs but before bunker has read so (it was taken for an interrupted set-up)",
    file: "native/child.c",
    edits: one("if (fwd_starting && sig != SIGWINCH_ && !fwd_command_runs()) {", "if (fwd_starting && sig != SIGWINCH_) {"),
    tests: [NATIVE],
  },
  {
    name: "init-lockdown",
    removes: "--init's own lockdown: its PID 1 keeps no_new_privs off and no filter (only the command gets them)",
    file: "src/runtime/plan.ts",
    edits: one("    planLockdown(p, spec, filter);\n    planInit(p, extras.initProgram);", "    planInit(p, extras.initProgram);\n    planLockdown(p, spec, filter);"),
    tests: [ENTERING],
  },
  {
    name: "cgroup-v1-no-self-move",
    removes: "the container's first process moving itself into its cgroup v1 directories (nothing puts it there then)",
    file: "src/runtime/plan.ts",
    edits: one(
      '    p.call(`move into the container\'s cgroup ${c.dir}`, "write", [c.fd, p.str("0"), 1], { expect: { value: 1, errno: Errno.EIO } });\n',
      "",
    ),
    tests: [CGROUPS],
  },
  {
    name: "cgroup-v2-not-at-clone",
    removes: "starting the container's first process in its cgroup v2 directory (clone3): it is moved there afterwards",
    file: "src/runtime/create.ts",
    edits: one("        ...(v2Cgroup !== undefined ? { intoCgroup: v2Cgroup } : {}),\n", ""),
    tests: [CGROUPS],
  },
  {
    name: "init-stays-copy",
    removes: "--init's PID 1 becoming native/init.c (it stays a copy of bunker, megabytes beside every command)",
    file: "src/runtime/create.ts",
    edits: one('      ...(init && "fd" in init ? { initProgram: init.fd } : {}),\n', ""),
    tests: ["test/integration/lifecycle.test.ts", ESCAPE],
  },
  {
    name: "init-identity",
    removes: "--init's neutral command line (it shows bunker's)",
    file: "src/runtime/plan.ts",
    edits: one("    if (extras.argsArea) planInitIdentity(p, extras.argsArea);\n", ""),
    tests: [ENTERING],
  },
  {
    name: "exec-clone-vm",
    removes: "exec's own memory: the process that enters the PID namespace shares bunker's (CLONE_VM)",
    file: "src/runtime/exec.ts",
    edits: one("const flags = CLONE.PARENT | SIGNALS.SIGCHLD;", "const flags = CLONE.PARENT | CLONE.VM | CLONE.VFORK | SIGNALS.SIGCHLD;"),
    tests: [ENTERING],
  },
  {
    name: "exec-lockdown-late",
    removes: "exec dropping privileges before it enters the PID namespace (it drops them after the fork)",
    file: "src/runtime/exec.ts",
    edits: [
      { from: '  p.call(`change directory to ${req.cwd}`, "chdir", [p.str(req.cwd)]);\n  planLockdown(p, spec, filter);\n', to: '  p.call(`change directory to ${req.cwd}`, "chdir", [p.str(req.cwd)]);\n' },
      // A slow moment between the fork and the drop (a loaded machine) makes the window easy to see.
      { from: "    planParentCheck(p, pipes.syncRead);\n  }\n", to: '    planParentCheck(p, pipes.syncRead);\n  }\n  p.call("pause", "nanosleep", [p.arena.words([0, 300_000_000]), 0]);\n  planLockdown(p, spec, filter);\n' },
    ],
    tests: [ENTERING],
  },
  {
    name: "exec-full-caps",
    removes: "exec's capabilities held to the container's (a non-root exec user keeps root's)",
    file: "src/runtime/exec.ts",
    edits: one("const sets = uid === 0 ? (caps.bounding ?? []) : spec.oci.process.user.uid !== 0 ? (caps.effective ?? []) : [];", "const sets = caps.bounding ?? [];"),
    tests: [SECURITY],
  },
  {
    name: "exec-no-filter",
    removes: "exec's seccomp filter",
    file: "src/runtime/exec.ts",
    edits: one("const filter = await containerFilter(execSpec(req));", "const filter = null;"),
    tests: [SECURITY],
  },
  {
    name: "exec-custom-filter",
    removes: "the container's custom profile for exec'd processes (they get the default one)",
    file: "src/runtime/exec.ts",
    edits: one("const filter = await containerFilter(execSpec(req));", 'const filter = await containerFilter({ ...execSpec(req), bunker: { ...execSpec(req).bunker, seccomp: "default" } });'),
    tests: [SECURITY],
  },
  {
    name: "exec-ns-unconfined",
    removes: "docker's default confinement for exec --ns",
    file: "src/runtime/exec.ts",
    edits: one('bunker: { setgroups: true, seccomp: req.privileged ? "unconfined" : "default" },', 'bunker: { setgroups: true, seccomp: "unconfined" },'),
    tests: [PINS],
  },
  {
    name: "exec-outside-pid-ns",
    removes: "exec's process entering the container's PID namespace (no fork after setns)",
    file: "src/runtime/exec.ts",
    edits: one('return t.kind === "pid" ? (t.flags & CLONE.NEWPID) !== 0 : t.fds.some((f) => f.type === "pid");', "return false;"),
    tests: [EXEC],
  },
  {
    name: "setgroups-allowed",
    removes: "denying setgroups before a rootless gid_map is written",
    file: "src/identity/maps.ts",
    edits: one('  if (!spec.bunker.setgroups) writeProcFile(pid, "setgroups", "deny");\n', ""),
    tests: [ROOTLESS],
  },

  // Devices and cgroups.
  {
    name: "device-allowlist-off",
    removes: "the device allow-list in the container's cgroup",
    file: "src/spec/defaults.ts",
    edits: one("if (d?.devices) r.devices = (privileged ? ALL_DEVICES : DEFAULT_DEVICE_RULES).map((rule) => ({ ...rule }));", ""),
    tests: [DEVICES],
  },
  {
    name: "device-program-off",
    removes: "the eBPF device program on cgroup v2",
    file: "src/cgroups/devices.ts",
    edits: one("    if (allowsEverything(rules)) return;", "    return;"),
    tests: [DEVICES],
    vm: true,
  },
  {
    name: "pids-default-off",
    removes: "the default PID limit",
    file: "src/spec/defaults.ts",
    edits: one("if (d?.pids && !r.pids) r.pids = { limit: DEFAULT_PIDS_LIMIT };", ""),
    tests: [CGROUPS],
  },
  {
    name: "no-cgroup-namespace",
    removes: "the container's own cgroup namespace",
    file: "src/runtime/plan.ts",
    edits: one('if (o.cgroupns) p.call("create the cgroup namespace", "unshare", [CLONE.NEWCGROUP]);', ""),
    tests: [RUN],
  },

  // Files bunker reads, pins, state, network.
  {
    name: "read-any-file-type",
    removes: "reading only regular files from a rootfs or a user-named path",
    file: "src/sys/fs.ts",
    edits: one('if (type !== "file") throw new FileError(op, Errno.EINVAL, `not a regular file${type ? ` (${KINDS[type]})` : ""}`);', ""),
    tests: [HOSTILE],
  },
  {
    name: "read-blocking",
    removes: "reading only regular files, without blocking: a FIFO is opened and waited on",
    file: "src/sys/fs.ts",
    edits: [
      { from: 'if (type !== "file") throw new FileError(op, Errno.EINVAL, `not a regular file${type ? ` (${KINDS[type]})` : ""}`);', to: "" },
      { from: "O.RDONLY | O.NONBLOCK | O.NOCTTY | O.CLOEXEC, 0);\n  if (fd < 0) throw new FileError(op, -fd);\n  try {\n    // One byte", to: "O.RDONLY | O.NOCTTY | O.CLOEXEC, 0);\n  if (fd < 0) throw new FileError(op, -fd);\n  try {\n    // One byte" },
    ],
    tests: [HOSTILE],
  },
  {
    name: "read-no-size-cap",
    removes: "the size cap on files bunker reads (a longer file is cut short)",
    file: "src/sys/fs.ts",
    edits: [
      { from: "  if (size > max) throw tooLarge(op, max);\n", to: "" },
      { from: "    if (data.length > max) throw tooLarge(op, max);\n", to: "" },
    ],
    tests: [HOSTILE, RUN],
  },
  {
    name: "read-outside-root",
    removes: "resolving a rootfs's /etc files inside it (an absolute symlink reads the host's)",
    file: "src/sys/fs.ts",
    edits: one("BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS)", "BigInt(RESOLVE.NO_MAGICLINKS)"),
    tests: [ESCAPE],
  },
  {
    name: "volumes-writable",
    removes: "volumes read-only unless :rw is given",
    file: "src/spec/volumes.ts",
    edits: one("const v: Volume = { source: parts[0]!, destination, readonly: true,", "const v: Volume = { source: parts[0]!, destination, readonly: false,"),
    tests: [RUN],
  },
  {
    name: "state-dir-foreign",
    removes: "refusing a state directory that is another user's",
    file: "src/sys/fs.ts",
    edits: one("  if (o.uid !== uid) throw new Error(`${path} belongs to uid ${o.uid}, not ${uid}`);\n", ""),
    tests: [ESCAPE],
  },
  {
    name: "state-dir-symlink",
    removes: "refusing a state directory that is a symlink",
    file: "src/sys/fs.ts",
    edits: one("  const o = ownerOf(path);\n  if (!o || o.type !== \"dir\")", "  const o = ownerOf(path) && { ...ownerOf(path)!, type: fileType(path, true) };\n  if (!o || o.type !== \"dir\")"),
    tests: [ESCAPE],
  },
  {
    name: "cleanup-follows-symlinks",
    removes: "removing what bunker created in a rootfs without following symlinks",
    file: "src/sys/fs.ts",
    edits: one("BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)", "BigInt(0)"),
    tests: [MOUNTPOINTS],
  },
  {
    name: "state-without-rename",
    removes: "writing state files whole (temporary file and rename)",
    file: "src/sys/fs.ts",
    edits: one("const tmp = `${path}.${process.pid}.tmp`;", "const tmp = path;"),
    tests: [RECORDS],
  },
  {
    name: "pin-dir-trusted",
    removes: "refusing pin directories other users can write to",
    file: "src/runtime/pin.ts",
    edits: one("if (st.mode & 0o022) throw", "if (st.mode & 0) throw"),
    tests: [PINS],
  },
  {
    name: "pin-dir-symlink",
    removes: "refusing a pin directory that is a symlink",
    file: "src/runtime/pin.ts",
    edits: one("O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0);", "O.PATH | O.DIRECTORY | O.CLOEXEC, 0);"),
    tests: [PINS],
  },
  {
    name: "unpin-anything",
    removes: "unpinning only namespace mounts",
    file: "src/runtime/pin.ts",
    edits: one('  if (typeof st === "number" || !st.mountRoot) return false;\n', '  if (typeof st !== "number") return true;\n'),
    tests: [PINS],
  },
  {
    name: "loopback-guard-off",
    removes: "the bridge's drop of loopback-addressed packets from containers",
    file: "src/net/nat.ts",
    edits: one('[`iifname "${bridge}" ip daddr 127.0.0.0/8 drop`, `iifname "${bridge}" ip saddr 127.0.0.0/8 drop`],', '[`iifname "${bridge}" ip daddr 127.0.0.0/32 drop`, `iifname "${bridge}" ip saddr 127.0.0.0/32 drop`],'),
    tests: [NET_SECURITY],
  },
  {
    name: "slirp-host-loopback",
    removes: "keeping rootless containers off the host's loopback (slirp4netns)",
    file: "src/net/helpers.ts",
    edits: one('...(allowHostLoopback ? [] : ["--disable-host-loopback"]),', ""),
    tests: [NET_SECURITY],
  },
  {
    name: "pasta-host-loopback",
    removes: "keeping rootless containers off the host's loopback (pasta)",
    file: "src/net/helpers.ts",
    edits: one('...(allowHostLoopback ? [] : ["--no-map-gw"]),', ""),
    tests: [NET_SECURITY],
  },
  {
    name: "hairpin-off",
    removes: "hairpin mode on the container's bridge port (it reaching its own published port)",
    file: "src/net/bridge.ts",
    edits: one("    setHairpin(nl, index, host);\n", ""),
    tests: [FEATURES],
  },
  {
    name: "helper-port-probe-strict",
    removes: "SO_REUSEADDR on the check of a port a helper binds (a TIME_WAIT connection reads as in use)",
    file: "src/net/ports.ts",
    edits: one("    if (!keep && trySys(\"setsockopt\", fd, SOL_SOCKET, SO_REUSEADDR, Int32Array.of(1), 4) < 0) throw new PortError(`${what}: set SO_REUSEADDR`);\n", ""),
    tests: [FEATURES_ROOTLESS],
  },
  {
    name: "waiter-off",
    removes: "the hand-off of a detached container's supervisor to the native waiter",
    file: "src/runtime/detach.ts",
    edits: one("      handOff: true,\n", ""),
    tests: ["test/integration/supervisor.test.ts"],
  },
  {
    name: "rm-keeps-mount-points",
    removes: "rm of a container whose bunker was killed removing the mount points made in its rootfs",
    file: "src/runtime/remove.ts",
    edits: one("  // Its record names a bunker that is dead now: unless a pin keeps its mount namespace, nothing uses what it made.\n  pruneMountPoints();\n", ""),
    tests: [MOUNTPOINTS],
  },
  {
    name: "lease-after-nft",
    removes: "recording a lease's ports before nft publishes them",
    file: "src/runtime/network.ts",
    edits: one(
      "      lease = allocate(dir, parseSubnet(bridge.config.subnet), id, reservation!.ports);\n      if (lease.ports.length) publish(lease, TABLE, lockFd);",
      "      lease = allocate(dir, parseSubnet(bridge.config.subnet), id, []);\n      if (reservation!.ports.length) {\n        lease = { ...lease, ports: [...reservation!.ports], nat: true };\n        publish(lease, TABLE, lockFd);\n      }",
    ),
    tests: [RECORDS],
  },
  {
    name: "rootfs-exposure-warning",
    removes: "the warning about a root container's rootfs other users can reach",
    file: "src/runtime/exposure.ts",
    edits: one("if (realPath(path) === \"/\" || !reachableByOthers(path)) return undefined;", "return undefined;"),
    tests: [SETUID],
  },
  {
    name: "controls-unescaped",
    removes: "escaping control characters a container controls on the operator's terminal",
    file: "src/output.ts",
    edits: one("  return CONTROL.test(text) && isTerminal(1) ? escapeControls(text) : text;", "  return text;"),
    tests: [TERMINAL],
  },
  // The OCI front end.
  {
    name: "oci-no-start-gate",
    removes: "OCI create's wait before execve (the command would run at create)",
    file: "src/runtime/plan.ts",
    edits: one("  if (extras.startGate) planStartGate(p, extras.startGate, spec);\n", "  if (extras.startGate) p.call(\"tell bunker the container is created\", \"write\", [extras.startGate.errWrite, p.arena.bytes(CREATED), 8]);\n"),
    tests: [OCI],
  },
  {
    name: "oci-dies-with-create",
    removes: "a created process outliving bunker create (PR_SET_PDEATHSIG cleared)",
    file: "src/runtime/plan.ts",
    edits: one('p.call("stay when bunker exits", "prctl", [PR_SET_PDEATHSIG, 0, 0, 0, 0]);', 'p.call("stay when bunker exits", "getpid", []);'),
    tests: [OCI],
  },
  {
    name: "pty-peer-leak",
    removes: "closing the terminal's peer descriptor at execve (the command gets it as 0, 1 and 2 only)",
    file: "src/runtime/tty.ts",
    edits: one("O.RDWR | O.NOCTTY | O.CLOEXEC], { save: peer }", "O.RDWR | O.NOCTTY], { save: peer }"),
    tests: [OCI],
  },
  {
    name: "oci-recursive-clear",
    removes: "the recursive options that clear a flag (rrw, rsuid, ...): a bind's submounts would keep the host's read-only flag",
    file: "src/rootfs/plan.ts",
    edits: one("p.arena.words([attrs, clear | (attrs & ATIME_MODE", "p.arena.words([attrs, (attrs & ATIME_MODE"),
    tests: [OCI],
  },
  {
    name: "oci-time-offsets",
    removes: "writing linux.timeOffsets into the new time namespace before entering it (its clocks would be the host's)",
    file: "src/runtime/plan.ts",
    edits: one('"write", [fd, p.arena.bytes(text), text.length], { expect: { value: text.length, errno: Errno.EIO } });', '"getpid", []);'),
    tests: [OCI],
  },
  {
    name: "exec-time-shared-memory",
    removes: "giving a process that enters a time namespace its own copy of memory (the kernel refuses one that shares bunker's: EUSERS)",
    file: "src/runtime/exec.ts",
    edits: one("      shareMemory: !entersTime(req.target),\n", ""),
    tests: [OCI],
  },
  {
    name: "oci-idmap",
    removes: "giving an id-mapped bind its maps (its files would show with the source's IDs)",
    file: "src/runtime/idmapped.ts",
    edits: one("new BigUint64Array([BigInt(MOUNT_ATTR.IDMAP), 0n, 0n, BigInt(userns)])", "new BigUint64Array([0n, 0n, 0n, BigInt(userns)])"),
    tests: [OCI],
  },
  {
    name: "oci-command-lookup",
    removes: "looking the command up at create, before the start gate (a missing one would fail only at start)",
    file: "src/runtime/plan.ts",
    edits: one('"faccessat", [AT.FDCWD, p.str(path), X_OK, 0], { probe: true,', '"getpid", [], { probe: true,'),
    tests: [OCI],
  },
  {
    name: "oci-hook-state",
    removes: "the container's state on a hook's stdin",
    file: "src/runtime/hooks.ts",
    edits: one("      stdin: new TextEncoder().encode(state),\n", '      stdin: "ignore",\n'),
    tests: [OCI],
  },
  {
    name: "oci-cgroups-path",
    removes: "placing an OCI container's cgroup at its config's cgroupsPath",
    file: "src/runtime/cgroup.ts",
    edits: one("return createCgroups(ps, spec.oci.linux.cgroupsPath, spec.oci.linux.resources);", "return createCgroups(ps, cgroupsPath(spec.bunker.id), spec.oci.linux.resources);"),
    tests: [OCI],
  },
  {
    name: "layer-through-symlink",
    removes: "unpacking a layer's entries without following symlinks (one planted by an earlier entry would lead out of the layer)",
    file: "src/image/unpack.ts",
    edits: one("BigInt(RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS)]);\n    const path", "BigInt(0)]);\n    const path"),
    tests: [UNPACK],
  },
  {
    name: "layer-dotdot",
    removes: "refusing layer entries whose .. climbs out of the layer",
    file: "src/image/unpack.ts",
    edits: one("    else if (parts.pop() === undefined) throw new LayerError(`layer entry \"${path}\" leaves the layer (..)`);\n", "    else parts.pop();\n"),
    tests: [UNPACK, IMAGES],
  },
  {
    name: "blob-digest-unchecked",
    removes: "checking a downloaded layer against its digest before it is kept",
    file: "src/image/pull.ts",
    edits: one("      if (got !== d.digest) throw", "      if (got === d.digest + \"never\") throw"),
    tests: [REGISTRY],
  },
  {
    name: "image-upper-left",
    removes: "removing an image container's own directory with its state",
    file: "src/runtime/store.ts",
    edits: one("  if (upper !== undefined) removeImageRoot(dirname(upper));\n", ""),
    tests: [IMAGES],
  },
  {
    name: "rootless-unpack-plain",
    removes: "a user's layers unpacked in a user namespace with their ranges (files would all be the user's own, root's in the container)",
    file: "src/runtime/userns-helper.ts",
    edits: one("  useUnpacker(async (source, dir) => {", "  void (async (source: AsyncIterable<Uint8Array>, dir: string) => {"),
    tests: [IMAGES],
  },
  {
    name: "whiteout-ignored",
    removes: "turning a layer's .wh. entries into overlayfs whiteouts (files a layer removed would show)",
    file: "src/image/unpack.ts",
    edits: one('        const r = trySys("mknodat", parent, name, S.IFCHR, 0);\n        if (r < 0) this.fail(e.path, "make its whiteout", r);\n', ""),
    tests: [UNPACK, REGISTRY],
  },
  {
    name: "export-shows-whiteouts",
    removes: "a whiteout hiding what the layers below it have, in export's merged view",
    file: "src/image/archive.ts",
    edits: one("          if (isWhiteout(st)) break;\n", ""),
    tests: [ARCHIVES],
  },
  {
    name: "export-ignores-opaque",
    removes: "an opaque directory hiding the lower layers' entries, in export's merged view",
    file: "src/image/archive.ts",
    edits: one("          if (isOpaque(fd)) break;\n", ""),
    tests: [ARCHIVES],
  },
  {
    name: "save-rebuilds-kept-layers",
    removes: "save writing a layer as the archive it came as (its id would change on every save)",
    file: "src/image/save.ts",
    edits: one("        if (kept) {", "        if (kept && kept.size < 0) {"),
    tests: [ARCHIVES],
  },
  {
    name: "copy-driver-as-user",
    removes: "a user's copy of an image made in a user namespace with their ranges (owners would be lost)",
    file: "src/runtime/userns-helper.ts",
    edits: one("  if (!maps) {\n    await unpackLayer(", "  if (maps) {\n    await unpackLayer("),
    tests: [DRIVERS],
  },
  {
    name: "log-never-rotates",
    removes: "rotating a detached container's log at its size cap (it would grow without bound)",
    file: "native/logfile.h",
    edits: one("f->size + f->out_len + need > f->max_size) log_rotate(f);", "f->size + f->out_len + need > f->max_size && 0) log_rotate(f);"),
    tests: [LOGS],
  },
  {
    name: "log-streams-merged",
    removes: "keeping stderr apart from stdout in a detached container's log",
    file: "native/waiter.c",
    edits: one('  streams[1].name = "stderr";', '  streams[1].name = "stdout";'),
    tests: [LOGS],
  },
  {
    name: "logs-follow-rereads",
    removes: "logs -f going on where it stopped (it would print rotated files again)",
    file: "src/cli/logs.ts",
    edits: one("        if (from >= 0 && i < from) continue;\n", ""),
    tests: [LOGS],
  },
  {
    name: "stdin-without-i",
    removes: "a container's stdin being /dev/null without -i (the caller's input would reach it unasked)",
    file: "src/cli/run.ts",
    edits: one("    ...(!flags.tty && !flags.interactive && !flags.detach ? { noStdin: true } : {}),\n", ""),
    tests: [RUN],
  },
  {
    name: "sysctl-of-the-host",
    removes: "refusing a --sysctl of a namespace the container shares with the host (it would change the host)",
    file: "src/cli/runspec.ts",
    edits: one("    if (sysctlNamespace(key) === null) throw", "    if (sysctlNamespace(key) === null && key.length < 0) throw"),
    tests: [RUN_FLAGS],
  },
  {
    name: "dns-flags-ignored",
    removes: "--dns, --dns-search and --dns-option reaching /etc/resolv.conf",
    file: "src/runtime/facts.ts",
    edits: one("  const resolv = spec.bunker.dns ? resolvConfWith(net?.resolvConf ?? \"\", spec.bunker.dns) : net?.resolvConf;", "  const resolv = net?.resolvConf;"),
    tests: [RUN_FLAGS],
  },
  {
    name: "diff-lists-mount-points",
    removes: "leaving bunker's own mount points out of diff",
    file: "src/cli/diff.ts",
    edits: one("  const kept = changes.filter((c) => !(c.kind === \"A\" && [...own].some((p) => c.path === p || c.path.startsWith(`${p}/`))));", "  const kept = [...changes];"),
    tests: [DRIVERS],
  },
  {
    name: "completion-all-containers",
    removes: "exec, stop and kill completing only running containers (a stopped one offered)",
    file: "src/cli/completion-scripts.ts",
    edits: one('    @running) "$1" __complete containers --running 2>/dev/null ;;', '    @running) "$1" __complete containers 2>/dev/null ;;'),
    tests: [SURFACE],
  },
  {
    name: "completion-aliases-lost",
    removes: "completion offering a flag's other spellings from its table (--net, -v)",
    file: "src/cli/completion.ts",
    edits: one("    names: [`--${name}`, ...(d.alias ?? []).map((a) => (a.length === 1 ? `-${a}` : `--${a}`))],", "    names: [`--${name}`],"),
    tests: [COMPLETION],
  },
  {
    name: "volume-rm-in-use",
    removes: "refusing to remove a volume a container uses",
    file: "src/runtime/volume-use.ts",
    edits: [
      { from: "  if (users.length) throw inUse(users);\n", to: "" },
      { from: "    if (now.length) throw inUse(now);\n", to: "" },
    ],
    tests: [VOLUMES],
  },
  {
    name: "volume-store-shared",
    removes: "refusing a volumes directory that another user may change (a volume there could be pointed anywhere)",
    file: "src/runtime/volume-store.ts",
    edits: one("    return privateDir(dir, process.geteuid?.() ?? 0);", "    return (makeDir(dir), dir);"),
    tests: [VOLUMES],
  },
  {
    name: "volume-not-filled",
    removes: "filling an empty volume with the image's files at first use",
    file: "src/cli/run.ts",
    edits: one("    if (image && !volume.nocopy) await uses.fillVolume(", "    if (image && volume.nocopy) await uses.fillVolume("),
    tests: [VOLUMES],
  },
  {
    name: "health-check-timeout-ignored",
    removes: "killing a health check that outlives --health-timeout (a hung check would hang every later one)",
    file: "src/runtime/health.ts",
    edits: one("  const code = await waitWithin(pid, Math.ceil(timeout / 1e6), drain);", "  const code = await waitWithin(pid, 2 ** 31 - 1, drain);"),
    tests: [HEALTH],
  },
  {
    name: "health-check-not-periodic",
    removes: "starting the periodic health check beside a running container",
    file: "src/runtime/run.ts",
    edits: one("  startHealthMonitor(created.state, created.pid);\n", ""),
    tests: [HEALTH],
  },
  {
    name: "health-timer-outlives-container",
    removes: "the periodic health check ending when the container's first process ends (its pidfd)",
    file: "native/health.c",
    edits: [
      { from: "    if (wait_until(pidfd, -1, next)) leave(0);", to: "    wait_until(pidfd, -1, next);" },
      { from: "    if (code < 0) leave(0);", to: "    (void)code;" },
    ],
    tests: ["test/unit/health-timer.test.ts"],
  },
  {
    name: "events-die-unrecorded",
    removes: "the die event (with its exit code) of a container whose bunker process waited for it",
    file: "src/runtime/wait.ts",
    edits: one('  containerEvent("die", state, { exitCode: String(code) });\n', ""),
    tests: [EVENTS],
  },
  {
    name: "events-log-followed",
    removes: "refusing an events log that is a symlink or a FIFO (an event would be written through it, or wait on it)",
    file: "src/runtime/events.ts",
    edits: one("O.WRONLY | O.APPEND | O.CREAT | O.NOFOLLOW | O.NONBLOCK", "O.WRONLY | O.APPEND | O.CREAT"),
    tests: [EVENTS],
  },
  {
    name: "device-permissions-ignored",
    removes: "--device's PERMS in the device rules (a node given read-only could be opened for writing)",
    file: "src/cli/runspec.ts",
    edits: one("major: d.device.major, minor: d.device.minor, access: d.access });", "major: d.device.major, minor: d.device.minor, access: \"rwm\" });"),
    tests: [RUN_FLAGS],
  },
  {
    name: "keep-id-without-passwd-entry",
    removes: "the passwd and group entries --userns keep-id gives the caller in the container",
    file: "src/runtime/facts.ts",
    edits: one("  for (const [file, text] of Object.entries(spec.bunker.userFiles ?? {})) etcFiles.set(file, text);\n", ""),
    tests: [RUN_FLAGS_ROOTLESS],
  },
  {
    name: "memory-reservation-unwritten",
    removes: "--memory-reservation reaching the cgroup (memory.soft_limit_in_bytes on v1)",
    file: "src/cgroups/limits.ts",
    edits: one('choices: [{ file: "memory.soft_limit_in_bytes", value: String(mem.reservation) }]', 'choices: [{ file: "memory.soft_limit_in_bytes", value: "-1" }]'),
    tests: [RUN_FLAGS],
  },
  {
    name: "ipc-join-follows-symlinks",
    removes: "refusing a symlink where the joined container's /dev/shm should be (--ipc container:ID would bind what it points to)",
    file: "src/rootfs/plan.ts",
    edits: one("RESOLVE.IN_ROOT | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS", "RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS"),
    tests: [RUN_FLAGS],
  },
  {
    name: "restart-policy-ignored",
    removes: "--restart starting a container again when it ends",
    file: "src/runtime/restart.ts",
    edits: one("  const policy = s.spec.bunker.restart;\n", "  const policy = undefined as typeof s.spec.bunker.restart;\n"),
    tests: [RESTART],
  },
  {
    name: "stop-keeps-restarting",
    removes: "stop, kill and rm -f holding a container's restart policy (and ending its back-off)",
    file: "src/runtime/restart.ts",
    edits: one("      if (!s || (!s.spec.bunker.restart && !s.restarting)) return;", "      if (s || !s) return;"),
    tests: [RESTART],
  },
  {
    name: "restart-backoff-flat",
    removes: "docker's back-off between restarts, doubling up to a minute",
    file: "src/runtime/restart.ts",
    edits: one("  return Math.min(s.restartDelay * 2, MAX_DELAY_MS);", "  return FIRST_DELAY_MS;"),
    tests: [RESTART],
  },
  {
    name: "failed-start-removes",
    removes: "a failed start of a stopped container leaving it stopped, with the reason (instead of removing it)",
    file: "src/runtime/create.ts",
    edits: one("    if (record.restore) restoreStopped(record.restore, err as Error);", "    if (record.restore && !record) restoreStopped(record.restore, err as Error);"),
    tests: [RESTART],
  },
  {
    name: "attach-input-dropped",
    removes: "the waiter passing an attached client's input to the container",
    file: "native/waiter.c",
    edits: one("    if (to >= 0) sys6(NR_WRITE, to, (long)(chunk + 1), r - 1, 0, 0, 0);", "    if (to < -1) sys6(NR_WRITE, to, (long)(chunk + 1), r - 1, 0, 0, 0);"),
    tests: [ATTACH],
  },
  {
    name: "attach-no-sig-proxy",
    removes: "attach passing the signals it receives on to the container",
    file: "src/runtime/attach.ts",
    edits: one("      native.forwardTo(s.pid);", "      native.forwardTo(-1);"),
    tests: [ATTACH],
  },
  {
    name: "detach-keys-ignored",
    removes: "the detach keys leaving an attached container running",
    file: "src/spec/detach-keys.ts",
    edits: one("        if (this.held.length === this.keys.length) return { pass: new Uint8Array(out), detach: true };", "        if (this.held.length === this.keys.length) return { pass: new Uint8Array(out), detach: false };"),
    tests: [TTY],
  },
  {
    name: "cp-outside-the-root",
    removes: "cp resolving a container's paths inside its root (a planted symlink would lead to the host's files)",
    file: "src/runtime/cp-tree.ts",
    edits: one("    return new FdTree(root, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS, what);", "    return new FdTree(root, 0, what);"),
    tests: [CP_SECURITY],
  },
  {
    name: "cp-setuid-out",
    removes: "cp clearing setuid and setgid bits and file capabilities on files copied out of a container (without -a as root)",
    file: "src/runtime/cp.ts",
    edits: one("    const fix = (e: TarEntry) => (keep ? e : withoutPrivileges(e));", "    const fix = (e: TarEntry) => e;"),
    tests: [CP_SECURITY],
  },
  {
    name: "cp-devices-out",
    removes: "root's cp without -a leaving out device nodes a container made",
    file: "src/runtime/cp.ts",
    edits: one("{ chown: keep, devices: keep }", "{ chown: keep, devices: isRoot() }"),
    tests: [CP_SECURITY],
  },
  {
    name: "networks-not-apart",
    removes: "the separation of a network made by network create from other bunker bridges",
    file: "src/net/nat.ts",
    edits: one("  const forward: [string, string, string[]][] = t.isolated || t.internal ?", "  const forward: [string, string, string[]][] = t.internal ?"),
    tests: [NETWORKS],
  },
  {
    name: "network-rm-in-use",
    removes: "network rm refusing a network a container uses",
    file: "src/runtime/networks.ts",
    edits: one("    if (users.length) {\n", "    if (users.length && false) {\n"),
    tests: [NETWORKS],
  },
  {
    name: "network-create-unmarked",
    removes: "network create recording the network (marked pending) before its bridge is made",
    file: "src/runtime/networks.ts",
    edits: one("      writeRecord(root, { ...record, pending: true });\n", ""),
    tests: [NETWORKS],
    leaks: true,
  },
  {
    name: "network-internal-out",
    removes: "an --internal network forwarding nothing beyond its bridge",
    file: "src/net/nat.ts",
    edits: one("  if (t.internal) return [`iifname \"${b}\" oifname != \"${b}\" drop`, `oifname \"${b}\" iifname != \"${b}\" drop`];\n", ""),
    tests: ["test/unit/net.test.ts"],
  },
  {
    name: "aardvark-detach-no-reload",
    removes: "a container's DNS entry leaving aardvark-dns when it detaches from a network (the file changes, the process is not told)",
    file: "src/net/aardvark.ts",
    edits: one("    writeNetwork(dir, network, { ...f, entries: f.entries.filter((x) => !sameId(x.id, lower)) });\n    apply(dir, () => aardvarkBinary());", "    writeNetwork(dir, network, { ...f, entries: f.entries.filter((x) => !sameId(x.id, lower)) });"),
    tests: ["test/integration/aardvark.test.ts"],
  },
  {
    name: "aardvark-zombie-served",
    removes: "checking that the recorded aardvark-dns pid is still that process, alive (a dead or zombie one is signalled instead of replaced)",
    file: "src/net/aardvark.ts",
    edits: one("  const start = startTime(pid);\n  return start !== null && isAlive(pid, start);\n}", "  return true;\n}").concat(one("    if (at < 0 || args[at + 1] !== cfg) return false;\n", "")),
    tests: ["test/integration/aardvark.test.ts"],
  },
  {
    name: "ipv6-isolation-off",
    removes: "the forwarding isolation between one IPv6 network's bridge and other networks' bridges",
    file: "src/net/nat6.ts",
    edits: one('["ct status dnat accept", `iifname ${b} oifname != ${b} oifname ${others} drop`, `oifname ${b} iifname != ${b} iifname ${others} drop`],', '["ct status dnat accept"],'),
    tests: ["test/integration/ipv6.test.ts"],
  },
  {
    name: "ipv6-dnat-of-loopback",
    removes: "leaving [::1]:PORT to the host's own listeners (IPv6 has no route_localnet: a DNATed ::1 packet is dropped)",
    file: "src/net/nat6.ts",
    edits: one('["ip6 daddr != ::1 fib daddr type local jump published"]', '["fib daddr type local jump published"]'),
    tests: ["test/integration/ipv6.test.ts"],
  },
  {
    name: "ipv6-dad",
    removes: "IPv6 addresses usable at once (without IFA_F_NODAD they are tentative for a second or more)",
    file: "src/net/rtnl.ts",
    edits: [
      { from: "  msg[IFADDR.flags] = IFA_F_NODAD;\n", to: "" },
      { from: "attrU32(IFA.FLAGS, IFA_F_NODAD)", to: "attrU32(IFA.FLAGS, 0)" },
    ],
    tests: ["test/integration/ipv6.test.ts"],
  },
  {
    name: "join-userns-maps-unchecked",
    removes: "a user's container joining another's namespaces only with the same ID maps (through its user namespace, its rootfs and --user would be read against other maps)",
    file: "src/runtime/join-container.ts",
    edits: one("    if (!mine || !sameMaps(linux.uidMappings, mine.uid) || !sameMaps(linux.gidMappings, mine.gid)) {", "    if (!mine) {"),
    tests: ["test/integration/join-rootless.test.ts"],
  },
  {
    name: "join-rootless-without-userns",
    removes: "a user's container entering the user namespace that owns the namespaces it joins with container:ID",
    file: "src/runtime/join-container.ts",
    edits: one("  return found && { path: found.path };", "  return undefined;"),
    tests: ["test/integration/join-rootless.test.ts"],
  },
  {
    name: "rootless-netns-left-broken",
    removes: "ensure undoing a rootless network namespace left half-made or broken (a holder whose helper died would run on beside the new one, unrecorded)",
    file: "src/runtime/rootless-netns.ts",
    edits: one("      undo(r);\n    }\n    return create();", "    }\n    return create();"),
    tests: ["test/integration/rootless-netns.test.ts"],
  },
  {
    name: "rootless-netns-no-proxy-arp",
    removes: "the rootless network namespace answering slirp4netns's ARP for containers' addresses (published ports would reach nothing)",
    file: "src/runtime/netns-holder.ts",
    edits: one('    planSysctl(p, "net/ipv4/conf/all/proxy_arp", "answer ARP for the containers\' addresses");\n', ""),
    tests: ["test/integration/rootless-netns.test.ts"],
  },
  {
    name: "joined-userns-plumbed-early",
    removes: "a child in a joined user namespace reporting its namespaces only once it has made them, while still dumpable (its network would be plumbed before it exists)",
    file: "src/runtime/plan.ts",
    edits: one("      planNamespacesMade(p, h, reportFor);\n", ""),
    tests: ["test/unit/userns-from.test.ts"],
  },
  {
    name: "join-rootless-sys-bound",
    removes: "a user's container joining another's network through its user namespace mounting sysfs for it (the host's /sys bound instead makes a pure cgroup v2 host refuse /sys/fs/cgroup)",
    file: "src/cli/runspec.ts",
    edits: one('  if (sys?.type === "bind" && spec.bunker.net?.joined?.startsWith("container:")) Object.assign', '  if (sys?.type === "bind" && false) Object.assign'),
    tests: ["test/integration/join-rootless.test.ts"],
    vm: true,
  },
  {
    name: "helper-signals-blocked",
    removes: "bunker's helpers in a user's namespaces starting with no signal blocked (aardvark-dns would inherit blocked SIGHUP and SIGTERM: no reloads, and each stop waits for SIGKILL)",
    file: "src/runtime/userns-helper.ts",
    edits: one('  p.call("unblock all signals", "rt_sigprocmask", [SIG_SETMASK, p.arena.alloc(KERNEL_SIGSET_SIZE).addr, 0, KERNEL_SIGSET_SIZE]);\n', ""),
    tests: ["test/integration/networks-rootless.test.ts"],
  },
  {
    name: "rootless-netns-fd-not-passed",
    removes: "bunker opening a user's container's network namespace itself and giving it to its helper (whose open /proc's ptrace check refuses)",
    file: "src/runtime/netns-command.ts",
    edits: one('(await import("./network-named")).plumbAll(id!, Number(pid), names === "1", 3);', '(await import("./network-named")).plumbAll(id!, Number(pid), names === "1");'),
    tests: ["test/integration/networks-rootless.test.ts"],
  },
  {
    name: "rootless-forwards-kept",
    removes: "a user's detached container's published ports let go when it ends (slirp4netns would hold the host port for as long as the namespace lives)",
    file: "src/runtime/network-rootless.ts",
    edits: one("  reconcileForwards();\n", ""),
    tests: ["test/integration/networks-rootless.test.ts"],
  },
  {
    name: "abi-arm64-nofollow",
    removes: "aarch64's own O_NOFOLLOW (its x86_64 value means O_LARGEFILE there: a final symlink would be followed)",
    file: "src/sys/constants.ts",
    edits: one("    NOFOLLOW: arm ? 0o100000 : 0o400000,", "    NOFOLLOW: 0o400000,"),
    tests: ["test/unit/abi.test.ts"],
  },
  {
    name: "abi-arm64-newfstatat",
    removes: "aarch64's number for newfstatat in seccomp profiles (without it the default profile refuses glibc's stat on arm64)",
    file: "src/sys/syscall-table.ts",
    edits: one("  newfstatat: [262, 79],", "  newfstatat: [262, -1],"),
    tests: ["test/unit/abi.test.ts", "test/unit/syscalls.test.ts", "test/unit/seccomp.test.ts"],
  },
  {
    name: "abi-native-arm64-openat",
    removes: "the aarch64 waiter's own openat number (x86_64's 257 is another call there: the container's log would never open)",
    file: "native/nolibc.h",
    edits: one("#define NR_OPENAT 56\n", "#define NR_OPENAT 257\n"),
    tests: ["test/unit/abi.test.ts"],
  },
  {
    name: "old-kernel-fds-kept",
    removes: "marking inherited descriptors close-on-exec one by one where close_range(CLOSE_RANGE_CLOEXEC) is missing (Linux 5.11): a caller's open descriptor reaches the container, and holds run -d's pipe open",
    file: "src/child/descriptors.ts",
    edits: one("  const last = Math.max(descriptorBound(), first + MARGIN);", "  const last = first - 1;"),
    tests: ["test/integration/kernels.test.ts"],
  },
  {
    name: "old-kernel-flags-unset",
    removes: "bind remounts where mount_setattr is missing (Linux 5.12): the rootfs's and volumes' flags are left to mount_setattr, which such a kernel refuses",
    file: "src/rootfs/plan.ts",
    edits: one('  if (!has("mountSetattr")) {\n    if ("keep" in from)', '  if (!has("mountSetattr") && false) {\n    if ("keep" in from)'),
    tests: ["test/integration/kernels.test.ts"],
  },
  {
    name: "old-kernel-no-refusal",
    removes: "the one-line refusal of a container on a kernel without openat2 or the new mount API (Linux 5.6, 5.2): it fails later with an errno",
    file: "src/runtime/create.ts",
    edits: [
      { from: "  if (!record.restore) requireContainerKernel();\n", to: "" },
      { from: "    requireContainerKernel();\n", to: "" },
    ],
    tests: ["test/integration/kernels.test.ts"],
  },
  {
    name: "layer-moved-as-user",
    removes: "a user's layer moved into place through the helper when its top directory is a subordinate ID's (import and pull fail with EACCES)",
    file: "src/image/store.ts",
    edits: one('    if ((e as NodeJS.ErrnoException).code !== "EACCES" || !helperMover) throw e;\n', "    throw e;\n"),
    tests: ["test/integration/images.test.ts"],
  },
  {
    name: "layer-discarded-as-user",
    removes: "a layer the user cannot move to tmp renamed beside itself to be removed (rmi and prune leave it in layers/)",
    file: "src/image/store.ts",
    edits: one('    if ((e as NodeJS.ErrnoException).code !== "EACCES" || dirname(path) !== `${root}/layers`) return; // already gone\n', "    return;\n"),
    tests: ["test/integration/images.test.ts"],
  },
  {
    name: "old-kernel-init-keeps-fds",
    removes: "--init closing descriptors one by one where close_range is missing (before Linux 5.9): the container's PID 1 holds bunker's, and run -d waits on its error pipe",
    file: "native/child.c",
    edits: one("  end = last < 0 || last > ia->fd_bound ? ia->fd_bound : last;\n", "  end = -1;\n"),
    tests: ["test/integration/kernels.test.ts"],
  },
  {
    name: "old-kernel-shm-flags-assumed",
    removes: "the flags of the /dev/shm --ipc container:ID binds, read from that container's mount where mount_setattr is missing: a read-only one there becomes writable here",
    file: "src/rootfs/plan.ts",
    edits: one("  const real = has(\"mountSetattr\") ? 0 : (facts.mountFlags?.(`/proc/${pid}/root${path}`) ?? 0);\n", "  const real = 0;\n"),
    tests: ["test/integration/kernels.test.ts"],
  },
];

// bunker spec [--rootless] [--bundle DIR]: a default config.json to start
// from, as runc's: a shell on a terminal, in rootfs/, with the usual mounts,
// namespaces and hardening. --rootless maps the caller to root in a user
// namespace of its own (a private network namespace stays: loopback only).

import { UsageError, type OptionDefs } from "../options";
import { DEFAULT_PATH, MASKED_PATHS, OCI_VERSION, READONLY_PATHS } from "../spec/defaults";
import { resolve as absolute } from "node:path";
import { createNewFile } from "../runtime/bundle-host";
import { parseOci } from "./parse";
import type { OciGlobals } from "./route";

const OPTIONS: OptionDefs = {
  rootless: { type: "boolean", description: "For an unprivileged caller: a user namespace mapping you to root" },
  bundle: { type: "string", alias: ["b"], valueHint: "DIR", description: "Where to write config.json (default: the current directory)" },
};

/** runc's default capabilities for `spec`. */
const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

export function defaultConfig(rootless: { uid: number; gid: number } | null): Record<string, unknown> {
  const devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", ...(rootless ? [] : ["gid=5"])];
  const namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup", ...(rootless ? ["user"] : [])].map((type) => ({ type }));
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: [`PATH=${DEFAULT_PATH}`, "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "bunker",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: devpts },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
    ],
    linux: {
      ...(rootless
        ? { uidMappings: [{ containerID: 0, hostID: rootless.uid, size: 1 }], gidMappings: [{ containerID: 0, hostID: rootless.gid, size: 1 }] }
        : { resources: { devices: [{ allow: false, access: "rwm" }] } }),
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

export async function spec(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, OPTIONS, "spec [--rootless] [--bundle DIR]");
  if (parsed.rest.length) throw new UsageError(`spec: unexpected argument "${parsed.rest[0]}"`);
  const dir = absolute((parsed.values.bundle as string | undefined) ?? ".");
  const path = `${dir}/config.json`;
  const config = defaultConfig(parsed.values.rootless ? { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 } : null);
  createNewFile(path, `${JSON.stringify(config, null, "\t")}\n`);
  return 0;
}

// bunker features: runc's JSON of what this runtime supports, for clients
// that ask before they build a config.

import { writeOut } from "../output";
import { UsageError } from "../options";
import { CAPABILITIES } from "../security/caps";
import { OCI_VERSION } from "../spec/defaults";
import { parseOci } from "./parse";
import type { OciGlobals } from "./route";

const MOUNT_OPTIONS = [
  "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync", "noatime", "atime",
  "nodiratime", "diratime", "relatime", "norelatime", "strictatime", "nostrictatime", "nosymfollow", "bind", "rbind", "private", "rprivate",
  "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime", "rnoatime", "ratime",
  "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow", "idmap", "ridmap",
];

export function featuresJson(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
      capabilities: CAPABILITIES.map((c) => `CAP_${c}`),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"],
        operators: ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        archs: [process.arch === "arm64" ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64"],
        knownFlags: [],
        supportedFlags: [],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
    },
  };
}

export async function features(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, {}, "features");
  if (parsed.rest.length) throw new UsageError(`features: unexpected argument "${parsed.rest[0]}"`);
  await writeOut(`${JSON.stringify(featuresJson(), null, 2)}\n`);
  return 0;
}

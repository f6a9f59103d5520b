// What the benchmarks share: finding a program, running one for its output,
// medians, and a process's resident memory.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** `cmd`'s path along PATH, or null. */
export const which = (cmd: string): string | null =>
  (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").map((d) => join(d, cmd)).find(existsSync) ?? null;

/** Runs `cmd` with no input; its stdout, trimmed. Throws with its stderr when it fails. */
export function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdin: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** VmRSS (from status) or Pss (from smaps_rollup) of `pid`, in KiB. */
export function kib(pid: number, field: "VmRSS" | "Pss"): number {
  const text = readFileSync(`/proc/${pid}/${field === "Pss" ? "smaps_rollup" : "status"}`, "utf8");
  const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]);
}

/** An OCI config matching bunker's default isolation: same namespaces, same mounts, no cgroup limits. */
export function ociConfig(rootfs: string) {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["/bin/true"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
      cwd: "/",
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: false },
    hostname: "bench",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: { namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })) },
  };
}

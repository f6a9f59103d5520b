// A podman of the benchmark's own: storage, run directory, temporary files
// and network configs under one temporary directory, so nothing of a podman
// already set up on the host is touched, and everything it made is removed
// again afterwards (also what podman itself leaves: mounts, cgroups, its
// network run directory).

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { which } from "./tools";

/** Root may not raise RLIMIT_NOFILE to podman's default of 1048576 on this kind of host. */
export const PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];

export interface PrivatePodman {
  /** podman and its global flags: put a sub-command after it. */
  cmd: string[];
  /** The directory everything of this podman lies in. */
  dir: string;
  /** Runs podman with `args`; its stdout, trimmed. Throws with its stderr when it fails. */
  run(args: string[], stdin?: Uint8Array): string;
  /** Imports the tree at `rootfs` as image `name`. */
  importRootfs(rootfs: string, name: string): void;
  /** Removes its containers, networks and storage, and what podman leaves on the host. Safe to call twice. */
  remove(): void;
}

/** podman's parent cgroups (libpod_parent, in every hierarchy), which it leaves behind. */
function podmanCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdirSync("/sys/fs/cgroup")) {
    const dir = `/sys/fs/cgroup/${h}/libpod_parent`;
    if (existsSync(dir)) out.push(`${dir}/conmon`, dir);
  }
  return out;
}

// Where netavark keeps its IP allocations and aardvark-dns its configs for root, whatever --runroot
// says; removed afterwards when this run made them (the parent only if empty).
const NETWORK_RUN_DIRS = ["/run/containers/networks", "/run/containers"];

/** netavark's per-network iptables chains ("nat NETAVARK-1A2B..."), which a teardown cut short can leave behind. */
function netavarkChains(): string[] {
  const r = Bun.spawnSync(["iptables-save"], { stderr: "ignore" });
  if (r.exitCode !== 0) return [];
  let table = "";
  const out: string[] = [];
  for (const line of r.stdout.toString().split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const m = line.match(/^:(NETAVARK-[0-9A-F]+) /);
    if (m) out.push(`${table} ${m[1]}`);
  }
  return out;
}

/** A private podman, or null when podman is not installed. `driver` is the storage driver (podman's default when absent). */
export function privatePodman(opts: { driver?: string } = {}): PrivatePodman | null {
  const podman = which("podman");
  if (!podman) return null;
  const dir = mkdtempSync(join(tmpdir(), "bunker-bench-podman-"));
  const cmd = [
    podman,
    "--root",
    join(dir, "root"),
    "--runroot",
    join(dir, "run"),
    "--tmpdir",
    join(dir, "tmp"),
    "--network-config-dir",
    join(dir, "networks"),
    ...(opts.driver ? ["--storage-driver", opts.driver] : []),
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
  ];
  // Image imports stage their layers under TMPDIR (/var/tmp by default).
  const env = { ...process.env, TMPDIR: join(dir, "tmp") };
  const cgroupsBefore = new Set(podmanCgroups());
  const runDirsMade = NETWORK_RUN_DIRS.filter((d) => !existsSync(d));
  const chainsBefore = new Set(netavarkChains());
  let removed = false;
  const run = (args: string[], stdin?: Uint8Array): string => {
    const r = Bun.spawnSync([...cmd, ...args], { stdin: stdin ?? "ignore", stderr: "pipe", env });
    if (r.exitCode !== 0) throw new Error(`podman ${args.slice(0, 2).join(" ")}: ${r.stderr.toString().trim().split("\n").pop()}`);
    return r.stdout.toString().trim();
  };
  return {
    cmd,
    dir,
    run,
    importRootfs(rootfs, name) {
      mkdirSync(join(dir, "tmp"), { recursive: true });
      const tar = Bun.spawnSync(["tar", "-C", rootfs, "--numeric-owner", "-cf", "-", "."], { stdout: "pipe" });
      if (tar.exitCode !== 0) throw new Error(`tar of ${rootfs}: ${tar.stderr.toString().trim()}`);
      run(["import", "-q", "-", name], tar.stdout);
    },
    remove() {
      if (removed) return;
      removed = true;
      const quiet = { stdout: "ignore", stderr: "ignore", env } as const;
      Bun.spawnSync([...cmd, "rm", "-f", "-a", "-t", "0"], quiet);
      Bun.spawnSync([...cmd, "network", "prune", "-f"], quiet);
      Bun.spawnSync([...cmd, "system", "reset", "-f"], quiet);
      // The overlay driver bind-mounts its storage directory onto itself, and reset leaves that.
      const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "");
      for (const m of mounts.filter((m) => m.startsWith(`${dir}/`)).reverse()) Bun.spawnSync(["umount", "-l", m]);
      for (const d of podmanCgroups().filter((d) => !cgroupsBefore.has(d))) {
        try {
          rmdirSync(d);
        } catch {
          // not empty, or gone: left as podman left it
        }
      }
      // iptables refuses to delete a chain that still has rules or is jumped to: only empty leftovers go.
      for (const c of netavarkChains().filter((c) => !chainsBefore.has(c))) {
        const [table, chain] = c.split(" ");
        Bun.spawnSync(["iptables", "-t", table!, "-X", chain!], { stdout: "ignore", stderr: "ignore" });
      }
      for (const d of runDirsMade) {
        if (d === NETWORK_RUN_DIRS[0]) rmSync(d, { recursive: true, force: true });
        else {
          try {
            rmdirSync(d);
          } catch {
            // something else keeps its state there too
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

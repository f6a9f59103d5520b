// The arm64 guest's root file system: the host's own / is amd64, so the guest gets a root made of
// Debian's arm64 packages (unpacked, never installed: no maintainer scripts run) and Bun for
// aarch64 from the npm registry. Built once into the cache; each boot shares it read-only.

import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Apt, unpackOnce } from "./apt";
import { EXIT_UNAVAILABLE, UNAVAILABLE, VmError, run } from "./fail";

/**
 * What the guest runs: busybox-static (the initramfs, test root filesystems, modprobe), libc6 (Bun,
 * the arm64 bunker file), coreutils, util-linux (setpriv, mount) and passwd (useradd) for the tests'
 * throw-away users, uidmap (newuidmap), passt and slirp4netns (a rootless container's network),
 * crun (the start-up comparison), file, nftables and iproute2 (the leak check), and a shell.
 */
export const ARM64_PACKAGES = [
  "base-files",
  "base-passwd",
  "bash",
  "busybox-static",
  "coreutils",
  "crun",
  "dash",
  "file",
  "findutils",
  "grep",
  "iproute2",
  "libc6",
  "login",
  "mount",
  "nftables",
  "passt",
  "passwd",
  "procps",
  "sed",
  "slirp4netns",
  "tar",
  "uidmap",
  "util-linux",
];

/** Changed whenever finish() changes, so that an older cached root is rebuilt. */
const LAYOUT = 1;

/** The Bun version package.json pins, for the same Bun in the guest as on the host. */
export function pinnedBun(repo: string): string {
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const v = pkg.devDependencies?.bun;
  if (!v || !/^\d+\.\d+\.\d+$/.test(v)) throw new VmError("bun", `package.json pins no exact Bun version (devDependencies.bun is ${JSON.stringify(v)})`);
  return v;
}

/** Bun for aarch64 (@oven/bun-linux-aarch64 from the npm registry), unpacked into the cache once. */
function ensureBun(cache: string, version: string): string {
  const dir = join(cache, "npm", `bun-linux-aarch64-${version}`);
  const bun = join(dir, "package", "bin", "bun");
  if (existsSync(bun)) return bun;
  const work = `${dir}.partial-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    process.stderr.write(`vm: downloading @oven/bun-linux-aarch64@${version} (once; kept in ${dir})\n`);
    try {
      run(["npm", "pack", "--silent", "--pack-destination", work, `@oven/bun-linux-aarch64@${version}`], UNAVAILABLE, { hint: "npm must reach its registry" });
    } catch (e) {
      throw e instanceof VmError ? new VmError(e.what, e.why, EXIT_UNAVAILABLE) : e;
    }
    const tgz = readdirSync(work).find((n) => n.endsWith(".tgz"));
    if (!tgz) throw new VmError("bun", `npm pack left no tarball in ${work}`);
    run(["tar", "-xzf", join(work, tgz), "-C", work, "package/bin/bun"], "bun");
    rmSync(join(work, tgz));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, ".."), { recursive: true });
    run(["mv", work, dir], "bun");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bun;
}

/** /etc as a Debian installation's maintainer scripts would leave it, for what the tests use. */
function finish(root: string, bun: string): void {
  for (const d of ["proc", "sys", "dev", "run", "tmp", "root", "usr/local/bin", "etc"]) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  const master = (name: string): string => readFileSync(join(root, "usr/share/base-passwd", `${name}.master`), "utf8");
  const passwd = master("passwd");
  const group = master("group");
  writeFileSync(join(root, "etc/passwd"), passwd);
  writeFileSync(join(root, "etc/group"), group);
  const names = (text: string) => text.split("\n").filter(Boolean).map((l) => l.split(":")[0]!);
  writeFileSync(join(root, "etc/shadow"), names(passwd).map((n) => `${n}:*:19000:0:99999:7:::\n`).join(""), { mode: 0o640 });
  writeFileSync(join(root, "etc/gshadow"), names(group).map((n) => `${n}:*::\n`).join(""), { mode: 0o640 });
  writeFileSync(join(root, "etc/subuid"), "");
  writeFileSync(join(root, "etc/subgid"), "");
  writeFileSync(join(root, "etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  writeFileSync(join(root, "etc/resolv.conf"), "");
  if (!existsSync(join(root, "bin/sh"))) symlinkSync("dash", join(root, "bin/sh"));
  // dpkg sets these modes from its own database, which an unpack without dpkg does not apply.
  for (const helper of ["usr/bin/newuidmap", "usr/bin/newgidmap"]) if (existsSync(join(root, helper))) chmodSync(join(root, helper), 0o4755);
  copyFileSync(bun, join(root, "usr/local/bin/bun"));
  chmodSync(join(root, "usr/local/bin/bun"), 0o755);
}

/** The arm64 root (a directory in the cache), made on first use; older layouts are removed. */
export function ensureArm64Root(cache: string, repo: string, suite: string): string {
  const version = pinnedBun(repo);
  const key = new Bun.CryptoHasher("sha256").update(JSON.stringify({ LAYOUT, suite, version, ARM64_PACKAGES })).digest("hex").slice(0, 12);
  const name = `arm64-root-${key}`;
  if (existsSync(join(cache, name))) return join(cache, name);
  const bun = ensureBun(cache, version);
  const apt = new Apt(cache, { suite, arch: "arm64" });
  apt.update();
  const debs = join(cache, "apt", `${suite}-arm64`, "root-debs");
  rmSync(debs, { recursive: true, force: true });
  process.stderr.write(`vm: downloading the arm64 root's packages (once; kept in ${join(cache, name)})\n`);
  const root = unpackOnce(cache, name, () => apt.downloadWithDependencies(ARM64_PACKAGES, debs), (r) => finish(r, bun));
  rmSync(debs, { recursive: true, force: true });
  for (const n of readdirSync(cache)) if (n.startsWith("arm64-root-") && n !== name) rmSync(join(cache, n), { recursive: true, force: true });
  return root;
}

// The guest kernel: Debian's own linux-image package, downloaded with apt-get and unpacked into the
// cache, never installed on the host (installing runs initramfs and boot loader hooks).

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Apt, type DebArch } from "./apt";
import { EXIT_UNAVAILABLE, UNAVAILABLE, VmError, run } from "./fail";

export interface Kernel {
  /** e.g. linux-image-6.1.0-56-amd64 */
  pkg: string;
  /** `uname -r` in the guest, e.g. 6.1.0-56-amd64 */
  release: string;
  /** what qemu boots: the uncompressed vmlinux when the kernel can boot from it, else vmlinuz */
  image: string;
  /** lib/modules/<release> of the unpacked package, with a modules.dep */
  modules: string;
}

const PREFIX = "linux-image-";

/**
 * The meta package whose kernel is booted, per architecture. For arm64 the generic kernel, not
 * linux-image-cloud-arm64: the cloud flavour is built without 9p (CONFIG_NET_9P is not set), and
 * the guest's root and the repository reach it over virtio-9p.
 */
export const META: Record<DebArch, string> = { amd64: "linux-image-amd64", arm64: "linux-image-arm64" };
/** The release an arm64 kernel comes from when no --suite names one (the host's own apt has no arm64 lists). */
export const ARM64_SUITE = "bookworm";

/** The versioned package the linux-image-amd64 meta package points at now, if apt knows. */
function currentPackage(): string | undefined {
  const r = Bun.spawnSync(["apt-cache", "depends", "linux-image-amd64"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  if (!r.success) return undefined;
  return /Depends:\s+(linux-image-\d\S*)/.exec(r.stdout.toString())?.[1];
}

function cached(cache: string): string[] {
  if (!existsSync(cache)) return [];
  return readdirSync(cache)
    .filter((n) => n.startsWith(PREFIX))
    .sort((a, b) => statSync(join(cache, b)).mtimeMs - statSync(join(cache, a)).mtimeMs);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/**
 * Writes boot/vmlinux, the kernel the bzImage carries xz-compressed, when the kernel has a PVH
 * entry point (CONFIG_PVH) qemu can start it at. Unpacking 30 MB with xz under emulation takes
 * the guest about 3 s per boot; here it takes under one, once.
 */
function extractVmlinux(root: string, release: string): void {
  const config = readFileSync(join(root, "boot", `config-${release}`), "utf8");
  if (!/^CONFIG_PVH=y$/m.test(config)) return;
  const bz = readFileSync(join(root, "boot", `vmlinuz-${release}`));
  const at = bz.indexOf(XZ_MAGIC);
  if (at < 0) return;
  // --single-stream: the payload is followed by the rest of the bzImage.
  const r = Bun.spawnSync(["xz", "-dc", "--single-stream"], { stdin: bz.subarray(at), stdout: "pipe", stderr: "pipe" });
  if (!r.success) throw new VmError("kernel", `xz -dc of the kernel in ${join(root, "boot", `vmlinuz-${release}`)}: ${r.stderr.toString().trim()} (install xz-utils)`);
  writeFileSync(join(root, "boot", `vmlinux-${release}`), r.stdout);
}

/** Unpacks `pkg` into `<cache>/<pkg>`; a rename publishes it, so a crash leaves only a .partial dir. */
function unpack(cache: string, pkg: string, busybox: string, apt?: Apt): void {
  mkdirSync(cache, { recursive: true });
  for (const n of readdirSync(cache)) {
    const m = /^\.partial-(\d+)-/.exec(n);
    if (m && !alive(Number(m[1]))) rmSync(join(cache, n), { recursive: true, force: true });
  }
  const work = join(cache, `.partial-${process.pid}-${pkg}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  try {
    process.stderr.write(`vm: downloading ${pkg} (once; kept in ${cache})\n`);
    try {
      if (apt) apt.download([pkg], work);
      else run(["apt-get", "download", pkg], UNAVAILABLE, { cwd: work, hint: "the package lists may be out of date: run apt-get update" });
    } catch (e) {
      // Only the download is the mirror's doing; every later step failing is the harness's (or the host's) fault.
      throw e instanceof VmError ? new VmError(e.what, e.why, EXIT_UNAVAILABLE) : e;
    }
    const deb = readdirSync(work).find((n) => n.endsWith(".deb"));
    if (!deb) throw new VmError("kernel", `apt-get download ${pkg} left no .deb in ${work}`);
    const root = join(work, "root");
    run(["dpkg-deb", "-x", join(work, deb), root], "kernel");
    const release = pkg.slice(PREFIX.length);
    // The package ships no modules.dep; busybox's depmod writes one (and modules.alias, which
    // the guest's modprobe needs to load modules on demand).
    run([busybox, "depmod", "-b", root, release], "kernel");
    rmSync(join(root, "usr"), { recursive: true, force: true }); // documentation only
    extractVmlinux(root, release);
    try {
      renameSync(root, join(cache, pkg));
    } catch (e) {
      // Another run unpacked the same package meanwhile: use theirs.
      if (!existsSync(join(cache, pkg))) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The kernel to boot: `pkg` if given, else the one linux-image-amd64 depends on now, downloaded
 * on first use. Without apt (or its lists), the newest kernel already in the cache is used.
 * When the default moves on, older unpacked kernels are removed (each is about 400 MB).
 * With `suite` (another Debian release, bullseye say), the kernel comes from that release's
 * lists, fetched into a private apt configuration; it is kept beside the default one.
 */
export function ensureKernel(cache: string, busybox: string, pkg?: string, suite?: string, arch: DebArch = "amd64"): Kernel {
  if (arch !== "amd64") suite ??= ARM64_SUITE;
  const apt = suite ? new Apt(cache, { suite, arch }) : undefined;
  if (apt) apt.update();
  const meta = META[arch];
  let name = pkg ?? (apt ? apt.dependency(meta, PREFIX) : (currentPackage() ?? cached(cache).filter((n) => n.endsWith("-amd64"))[0]));
  if (!name) {
    throw new VmError(
      UNAVAILABLE,
      `cannot tell which Debian kernel to use: \`apt-cache depends ${meta}\` found none${suite ? ` in ${suite}` : ""} (run apt-get update, or pass --kernel linux-image-<version>-${arch})`,
      EXIT_UNAVAILABLE,
    );
  }
  if (!name.startsWith(PREFIX)) name = PREFIX + name;
  if (!existsSync(join(cache, name))) {
    unpack(cache, name, busybox, apt);
    if (!pkg && !apt) for (const old of cached(cache)) if (old !== name && old.endsWith("-amd64")) rmSync(join(cache, old), { recursive: true, force: true });
  }
  const release = name.slice(PREFIX.length);
  const dir = join(cache, name);
  const vmlinuz = join(dir, "boot", `vmlinuz-${release}`);
  const vmlinux = join(dir, "boot", `vmlinux-${release}`);
  const modules = join(dir, "lib", "modules", release);
  if (!existsSync(vmlinuz) || !existsSync(join(modules, "modules.dep"))) {
    throw new VmError("kernel", `${dir} is incomplete (no ${vmlinuz} or modules.dep): remove it to download again`);
  }
  return { pkg: name, release, image: existsSync(vmlinux) ? vmlinux : vmlinuz, modules };
}

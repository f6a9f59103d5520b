// Debian packages of another release or architecture than the host's, fetched without touching
// the host's apt: a private apt configuration (its own sources, lists, cache and an empty status
// file) under the harness's cache. Nothing is installed; packages are downloaded and unpacked.

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_UNAVAILABLE, UNAVAILABLE, VmError, run } from "./fail";

export type DebArch = "amd64" | "arm64";

export interface AptSource {
  /** a Debian release: bookworm, bullseye, ... */
  suite: string;
  arch: DebArch;
}

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
/** Lists older than this are fetched again. */
const FRESH_MS = 24 * 3_600_000;

/** The mirror the host's own sources name (deb.debian.org unless the host says otherwise). */
function hostMirror(): string {
  const files = ["/etc/apt/sources.list", "/etc/apt/sources.list.d/debian.sources"];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    const m = /^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(https?:\/\/\S+\/debian)\/?\s/m.exec(text);
    if (m) return m[1]!;
  }
  return "http://deb.debian.org/debian";
}

function sourcesList(src: AptSource): string {
  const mirror = hostMirror();
  const lines = [`deb [signed-by=${KEYRING}] ${mirror} ${src.suite} main`];
  // The security archive carries the newest kernels of a stable release.
  lines.push(`deb [signed-by=${KEYRING}] ${mirror}-security ${src.suite}-security main`);
  return lines.join("\n") + "\n";
}

/** A private apt for one release and architecture, kept in `<cache>/apt/<suite>-<arch>`. */
export class Apt {
  readonly dir: string;

  constructor(
    cache: string,
    readonly src: AptSource,
  ) {
    this.dir = join(cache, "apt", `${src.suite}-${src.arch}`);
  }

  private options(): string[] {
    const d = this.dir;
    return [
      `-o`, `Dir::State=${d}/state`,
      `-o`, `Dir::State::status=${d}/state/status`,
      `-o`, `Dir::Cache=${d}/cache`,
      `-o`, `Dir::Etc::SourceList=${d}/sources.list`,
      `-o`, `Dir::Etc::SourceParts=${d}/parts`,
      `-o`, `Dir::Etc::PreferencesParts=${d}/parts`,
      `-o`, `APT::Architecture=${this.src.arch}`,
      `-o`, `APT::Architectures=${this.src.arch}`,
      `-o`, `Debug::NoLocking=1`,
      // Root's downloads otherwise warn that _apt cannot write into the target directory.
      `-o`, `APT::Sandbox::User=root`,
    ];
  }

  /** Fetches the package lists unless fresh ones are there. Failure is the mirror's: EXIT_UNAVAILABLE. */
  update(): void {
    const d = this.dir;
    for (const sub of ["state/lists/partial", "cache/archives/partial", "parts"]) mkdirSync(join(d, sub), { recursive: true });
    if (!existsSync(join(d, "state/status"))) writeFileSync(join(d, "state/status"), "");
    const list = join(d, "sources.list");
    const want = sourcesList(this.src);
    const stale = !existsSync(list) || readFileSync(list, "utf8") !== want;
    if (stale) writeFileSync(list, want);
    const lists = join(d, "state/lists");
    const newest = readdirSync(lists)
      .filter((n) => n.endsWith("_Packages"))
      .map((n) => statSync(join(lists, n)).mtimeMs)
      .sort((a, b) => b - a)[0];
    if (!stale && newest !== undefined && Date.now() - newest < FRESH_MS) return;
    this.mirror(["apt-get", ...this.options(), "update"], `the package lists of ${this.src.suite} (${this.src.arch})`);
  }

  /** The package a meta package (linux-image-amd64, ...) depends on now. */
  dependency(meta: string, prefix: string): string | undefined {
    const r = Bun.spawnSync(["apt-cache", ...this.options(), "depends", meta], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    if (!r.success) return undefined;
    for (const m of r.stdout.toString().matchAll(/Depends:\s+(\S+)/g)) if (m[1]!.startsWith(prefix)) return m[1];
    return undefined;
  }

  /** Downloads packages into `into`; returns the .deb files' paths. */
  download(pkgs: string[], into: string): string[] {
    mkdirSync(into, { recursive: true });
    const before = new Set(readdirSync(into));
    this.mirror(["apt-get", ...this.options(), "download", ...pkgs], `${pkgs.join(", ")} (${this.src.suite}, ${this.src.arch})`, into);
    return readdirSync(into)
      .filter((n) => n.endsWith(".deb") && !before.has(n))
      .map((n) => join(into, n));
  }

  /**
   * Downloads packages and everything they depend on (not what they recommend) into `into`, as
   * installing them on an empty system would; returns every .deb there.
   */
  downloadWithDependencies(pkgs: string[], into: string): string[] {
    mkdirSync(join(into, "partial"), { recursive: true });
    const argv = ["apt-get", ...this.options(), "-o", `Dir::Cache::archives=${into}`, "install", "--download-only", "--no-install-recommends", "-y", "-qq", ...pkgs];
    this.mirror(argv, `${pkgs.join(", ")} and their dependencies (${this.src.suite}, ${this.src.arch})`);
    return readdirSync(into)
      .filter((n) => n.endsWith(".deb"))
      .map((n) => join(into, n));
  }

  /**
   * Runs apt against the mirror: what the mirror could not give is EXIT_UNAVAILABLE; a package the
   * lists do not know is the harness's own mistake (a wrong name), a failure like any other.
   */
  private mirror(argv: string[], what: string, cwd?: string): void {
    try {
      run(argv, UNAVAILABLE, { cwd });
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      if (/Unable to locate package|has no installation candidate|Couldn't find any package/.test(e.why)) throw new VmError("packages", `${what}: ${e.why}`);
      throw new VmError(UNAVAILABLE, `${what}: ${e.why}`, EXIT_UNAVAILABLE);
    }
  }
}

/**
 * Unpacks .deb files into `<cache>/<name>` once (dpkg-deb -x, no maintainer scripts); a rename
 * publishes it, so an interrupted unpack leaves only a .partial directory that the next run removes.
 * `finish` may adjust the tree before it is published.
 */
export function unpackOnce(cache: string, name: string, debs: () => string[], finish?: (root: string) => void): string {
  const dest = join(cache, name);
  if (existsSync(dest)) return dest;
  mkdirSync(cache, { recursive: true });
  const work = join(cache, `.partial-${process.pid}-${name}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  try {
    const root = join(work, "root");
    mkdirSync(root);
    for (const deb of debs()) run(["dpkg-deb", "-x", deb, root], "unpack");
    finish?.(root);
    try {
      renameSync(root, dest);
    } catch (e) {
      if (!existsSync(dest)) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dest;
}

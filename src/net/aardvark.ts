// Container names on user-defined networks, answered by aardvark-dns (the
// responder podman's netavark drives), one process per user for all of that
// user's networks, listening on port 53 of each network's gateway in the
// network namespace of whoever starts it.
//
// `dir` holds:
//   config/<network>  aardvark-dns's files (aardvark-config.ts), and the
//                     aardvark.pid it writes there itself
//   pending           the intent: written before config/ changes, removed
//                     once the process serves what config/ says
//   lock              taken around every change
//   <network>.next    a file being written, renamed into config/ when whole:
//                     aardvark-dns reads every file in config/, and one that
//                     vanishes while it reads them makes it exit
//
// What aardvark-dns does (1.4): `run` forks, the child writes config/
// aardvark.pid, the parent exits once it has; the child then reads config/
// and binds each gateway, a bind that fails (port 53 taken) ending only that
// server, silently (it logs to syslog alone). SIGHUP makes it close every
// server, read config/ again and bind again; with no network file left it
// removes its pid file and exits; a file it cannot parse makes it exit. So
// bunker does not trust its exit status: it waits until the process holds a
// fresh port-53 socket for every gateway, from /proc.

import { AT, SIGNALS } from "../sys/constants";
import { Errno } from "../sys/errno";
import { cstr, findExecutable, listDir, lockFile, makeDir, readText, removePath, writeAtomic } from "../sys/fs";
import { closeFd, sys, trySys } from "../sys/libc";
import { isAlive, startTime } from "../sys/proc";
import { AardvarkError, checkAddress, checkNetworkName, formatNetworkFile, normalEntry, parseNetworkFile, PID_FILE, type DnsEntry, type NetworkFile } from "./aardvark-config";
import { TYPE_A, TYPE_AAAA } from "./dns-message";
import { askDns } from "./dns-probe";
import { listeners, portHolder, tryBind } from "./dns-listeners";

export { AardvarkError, type DnsEntry } from "./aardvark-config";

export interface DnsNetwork {
  name: string;
  /** The gateway addresses (IPv4 and/or IPv6) it answers on. */
  gateways: string[];
}

const PORT = 53;
/** Where podman's packages put it (Debian, Fedora), before PATH. */
const FIXED_DIRS = ["/usr/lib/podman", "/usr/libexec/podman"];
/** How long a start or a reload may take before it counts as failed. */
const SETTLE_MS = 5000;
/** How long a reload may take before the process is started anew instead (a reload takes milliseconds where it works). */
const RELOAD_MS = 300;

export function aardvarkPath(pathVar: string, fixed: readonly string[] = FIXED_DIRS): string | undefined {
  return findExecutable("aardvark-dns", [...fixed, ...pathVar.split(":").filter((d) => d.startsWith("/"))]);
}

/** The binary, or the error that says what to install. */
export function aardvarkBinary(pathVar = process.env.PATH ?? "", fixed: readonly string[] = FIXED_DIRS): string {
  const found = aardvarkPath(pathVar, fixed);
  if (!found) throw new AardvarkError("aardvark-dns not found: install the aardvark-dns package (containers on a user-defined network find each other by name through it)");
  return found;
}

const configDir = (dir: string) => `${dir}/config`;

/** Whether `pid` is the aardvark-dns serving `cfg` (its command line names that directory), alive and not a zombie. */
function isServer(pid: number, cfg: string): boolean {
  try {
    if (readText(`/proc/${pid}/comm`, 64).trim() !== "aardvark-dns") return false;
    const args = readText(`/proc/${pid}/cmdline`, 16384).split("\0");
    const at = args.indexOf("--config");
    if (at < 0 || args[at + 1] !== cfg) return false;
  } catch {
    // gone
    return false;
  }
  const start = startTime(pid);
  return start !== null && isAlive(pid, start);
}

/** The pid of the process serving `cfg`, from the pid file it wrote, if that process still is it. */
function serverPid(cfg: string): number | undefined {
  let text: string;
  try {
    text = readText(`${cfg}/${PID_FILE}`, 32);
  } catch {
    // none was started, or it ended with nothing to serve
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 1 && isServer(pid, cfg) ? pid : undefined;
}

/** Signals the server through a pidfd, checked after it is opened, so a pid reused meanwhile is never hit. */
function signalServer(pid: number, cfg: string, sig: number): boolean {
  const fd = trySys("pidfd_open", pid, 0);
  if (fd < 0) return false;
  try {
    return isServer(pid, cfg) && trySys("pidfd_send_signal", fd, sig, null, 0) === 0;
  } finally {
    closeFd(fd);
  }
}

/** Whether the process catches SIGHUP yet: until it does (early in its start), SIGHUP would kill it. */
function catchesHup(pid: number): boolean {
  try {
    const m = readText(`/proc/${pid}/status`).match(/^SigCgt:\s*([0-9a-f]+)$/m);
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    // gone
    return false;
  }
}

function until(ok: () => boolean, ms: number): boolean {
  const deadline = Date.now() + ms;
  for (;;) {
    if (ok()) return true;
    if (Date.now() >= deadline) return false;
    Bun.sleepSync(5);
  }
}

function readNetworks(cfg: string): Map<string, NetworkFile> {
  const out = new Map<string, NetworkFile>();
  for (const name of listDir(cfg)) {
    if (name === PID_FILE) continue;
    let f: NetworkFile | null = null;
    try {
      f = parseNetworkFile(readText(`${cfg}/${name}`));
    } catch {
      // unreadable: treated as the stray file below
    }
    if (f) out.set(name, f);
    // anything else would make aardvark-dns exit at its next read
    else removePath(`${cfg}/${name}`);
  }
  return out;
}

/** Replaces config/<name> whole, or removes it with no entries left (a network nobody is on is not served). */
function writeNetwork(dir: string, name: string, f: NetworkFile): void {
  const target = `${configDir(dir)}/${name}`;
  if (f.entries.length === 0) return removePath(target);
  const staged = `${dir}/${name}.next`;
  writeAtomic(staged, formatNetworkFile(f));
  try {
    sys(`rename ${staged} to ${target}`, "renameat2", AT.FDCWD, cstr(staged), AT.FDCWD, cstr(target), 0);
  } catch (e) {
    removePath(staged);
    throw e;
  }
}

/**
 * Whether every thread of the process that started at `start` has exited.
 * Its main thread turns zombie first (and its command line reads empty even
 * before), while the other threads may still hold its sockets.
 */
function ended(pid: number, start: number | null): boolean {
  if (start === null || startTime(pid) !== start) return true;
  return listDir(`/proc/${pid}/task`).every((tid) => {
    try {
      const stat = readText(`/proc/${pid}/task/${tid}/stat`);
      return "ZX".includes(stat.slice(stat.lastIndexOf(")") + 2)[0]!);
    } catch {
      // gone
      return true;
    }
  });
}

/** Whether no program holds port 53 on these (IPv4) addresses. */
const portsFree = (addresses: readonly string[]) => addresses.every((a) => tryBind(a, PORT) !== -Errno.EADDRINUSE);

function stopServer(cfg: string, pid: number): void {
  const start = startTime(pid);
  const served = [...listeners(pid, PORT).values()];
  signalServer(pid, cfg, SIGNALS.SIGTERM);
  if (!until(() => ended(pid, start), 2000)) signalServer(pid, cfg, SIGNALS.SIGKILL);
  // The kernel may close a socket of an exited process a moment later:
  // the next start (or another program) should find the ports free.
  until(() => ended(pid, start) && portsFree(served), 2000);
  removePath(`${cfg}/${PID_FILE}`);
}

function startServer(binary: string, cfg: string): number {
  // Bun gives the child only its stdio: none of bunker's locks or published ports' sockets.
  const r = Bun.spawnSync([binary, "--config", cfg, "-p", String(PORT), "run"], {
    cwd: "/",
    env: {},
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // its first process waits for the second's word and would wait for ever if it died first
    timeout: SETTLE_MS,
    killSignal: "SIGKILL",
  });
  const said = `${r.stdout?.toString() ?? ""}\n${r.stderr?.toString() ?? ""}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/syslog/.test(l));
  if (r.exitCode !== 0) throw new AardvarkError(`start ${binary}: ${said.at(-1) ?? (r.exitCode === null ? "it did not get ready" : `exit status ${r.exitCode}`)}`);
  const pid = serverPid(cfg);
  if (pid === undefined) throw new AardvarkError(`start ${binary}: it ended at once (the files in ${cfg} refused?)`);
  return pid;
}

/**
 * Waits until `pid` holds a port-53 socket for every gateway and none it
 * held before (`old`): the read of config/ that the start or the SIGHUP
 * asked for is then done. Says why when it is not.
 */
function settle(cfg: string, pid: number, old: ReadonlySet<string>, gateways: readonly string[], ms = SETTLE_MS): void {
  let now = listeners(pid, PORT);
  const fresh = () => {
    now = listeners(pid, PORT);
    return !isServer(pid, cfg) || (now.size >= gateways.length && [...now.keys()].every((i) => !old.has(i)));
  };
  const done = until(fresh, ms);
  if (!isServer(pid, cfg)) throw new AardvarkError(`aardvark-dns ended while reading ${cfg} (a file there it cannot parse?)`);
  if (done) return;
  const bound = new Set(now.values());
  const missing = gateways.filter((g) => !bound.has(g));
  const why = missing.map((g) => portHolder(g, PORT)).find((w) => w !== undefined);
  throw new AardvarkError(`aardvark-dns does not answer on ${missing.join(", ") || "its gateways"}${why ? `: ${why}` : ""}`);
}

/** Makes the process serve what config/ says: started, told to read it again, or stopped when no network is left. */
function apply(dir: string, binary: () => string): void {
  const cfg = configDir(dir);
  const nets = readNetworks(cfg);
  const gateways = [...new Set([...nets.values()].flatMap((n) => n.gateways))];
  let pid = serverPid(cfg);
  if (nets.size === 0) {
    if (pid !== undefined) stopServer(cfg, pid);
    removePath(`${cfg}/${PID_FILE}`);
    return;
  }
  if (pid !== undefined) {
    const old = new Set(listeners(pid, PORT).keys());
    until(() => catchesHup(pid!), SETTLE_MS);
    if (signalServer(pid, cfg, SIGNALS.SIGHUP)) {
      try {
        return settle(cfg, pid, old, gateways, RELOAD_MS);
      } catch {
        // Not read again (a process started with SIGHUP blocked keeps it blocked): started anew.
        stopServer(cfg, pid);
      }
    }
  }
  pid = startServer(binary(), cfg);
  settle(cfg, pid, new Set(), gateways);
}

function withLock<T>(dir: string, fn: () => T): T {
  makeDir(dir);
  makeDir(configDir(dir));
  const lock = lockFile(`${dir}/lock`);
  try {
    return fn();
  } finally {
    lock?.release();
  }
}

/** Fails at once, before any change, when a gateway's port 53 is another program's (aardvark-dns would say nothing). */
function refuseTakenPort(cfg: string, gateways: readonly string[]): void {
  const pid = serverPid(cfg);
  const served = new Set(pid === undefined ? [] : listeners(pid, PORT).values());
  const wanted = gateways.filter((g) => !served.has(g));
  // a moment's grace: an aardvark-dns killed just before may not have let go of the port yet
  until(() => portsFree(wanted), 300);
  for (const g of wanted) {
    const why = portHolder(g, PORT);
    if (why) throw new AardvarkError(`aardvark-dns cannot answer on ${g}: ${why}`);
  }
}

const sameId = (a: string, b: string) => a === b || (a.length === 12 && b.startsWith(a)) || (b.length === 12 && a.startsWith(b));

function markPending(dir: string): void {
  writeAtomic(`${dir}/pending`, "");
}

/**
 * Adds `entry` to `net` (replacing an entry of the same id) and returns once
 * aardvark-dns answers for it; on failure puts back what was and throws.
 */
export function dnsAttach(dir: string, net: DnsNetwork, entry: DnsEntry): void {
  checkNetworkName(net.name);
  if (net.gateways.length === 0) throw new AardvarkError(`network ${net.name} has no gateway address to answer on`);
  for (const g of net.gateways) checkAddress(g);
  const e = normalEntry(entry);
  const binary = aardvarkBinary();
  withLock(dir, () => {
    const cfg = configDir(dir);
    refuseTakenPort(cfg, net.gateways);
    const before = readNetworks(cfg).get(net.name);
    const after: NetworkFile = { gateways: [...net.gateways], entries: [...(before?.entries ?? []).filter((x) => !sameId(x.id, e.id)), e] };
    markPending(dir);
    writeNetwork(dir, net.name, after);
    try {
      apply(dir, () => binary);
      const v4 = net.gateways.find((g) => !g.includes(":"));
      if (v4 !== undefined) {
        const want = e.ipv4[0];
        const ok = until(() => {
          const r = askDns(v4, PORT, e.names.at(-1)!, want ? TYPE_A : TYPE_AAAA, 200);
          return r !== null && (want ? r.addresses.includes(want) : r.addresses.length > 0);
        }, SETTLE_MS);
        if (!ok) throw new AardvarkError(`aardvark-dns on ${v4} does not know container ${e.id.slice(0, 12)} after reading ${cfg}/${net.name}`);
      }
    } catch (err) {
      try {
        writeNetwork(dir, net.name, before ?? { gateways: net.gateways, entries: [] });
        apply(dir, () => binary);
        removePath(`${dir}/pending`);
      } catch {
        // pending stays: dnsReconcile finishes the undo
      }
      throw err;
    }
    removePath(`${dir}/pending`);
  });
}

/** Removes container `id` from `network`; the process stops with the last entry of all networks. */
export function dnsDetach(dir: string, network: string, id: string): void {
  checkNetworkName(network);
  const lower = id.toLowerCase();
  withLock(dir, () => {
    const f = readNetworks(configDir(dir)).get(network);
    if (!f || !f.entries.some((x) => sameId(x.id, lower))) return;
    markPending(dir);
    writeNetwork(dir, network, { ...f, entries: f.entries.filter((x) => !sameId(x.id, lower)) });
    apply(dir, () => aardvarkBinary());
    removePath(`${dir}/pending`);
  });
}

/**
 * After a bunker was killed: drops the entries of containers `alive` says
 * are gone and makes the process match what is left (started, reloaded if
 * a change may not have reached it, or stopped).
 */
export function dnsReconcile(dir: string, alive: (id: string) => boolean): void {
  if (!listDir(dir).length) return;
  withLock(dir, () => {
    const cfg = configDir(dir);
    for (const name of listDir(dir)) if (name.endsWith(".next") || name.endsWith(".tmp")) removePath(`${dir}/${name}`);
    let changed = listDir(dir).includes("pending");
    for (const [name, f] of readNetworks(cfg)) {
      const kept = f.entries.filter((x) => alive(x.id));
      if (kept.length === f.entries.length) continue;
      if (!changed) markPending(dir);
      changed = true;
      writeNetwork(dir, name, { ...f, entries: kept });
    }
    const pid = serverPid(cfg);
    if (changed || pid === undefined) apply(dir, () => aardvarkBinary());
    removePath(`${dir}/pending`);
  });
}

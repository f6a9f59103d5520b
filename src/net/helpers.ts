// User-mode networking: slirp4netns or pasta, started against the container's
// network namespace while the container waits, and stopped with it.
//
// slirp4netns says when it is ready on a pipe (--ready-fd) and exits when
// another pipe closes (--exit-fd), which happens when bunker exits however it
// exits. pasta becomes ready when its first process returns (it forks into the
// background then) and writes its pid to a file; it does not end by itself,
// so bunker stops it, and the next bunker clears one a killed bunker left.

import type { PortMapping } from "../spec/types";
import { countOf, expandPorts } from "../spec/ports";
import { AF_UNIX, AT, O, SIGNALS, SOCK_CLOEXEC, SOCK_STREAM } from "../sys/constants";
import { errnoMessage } from "../sys/errno";
import { findExecutable, readText } from "../sys/fs";
import { closeFd, pipe, readUpTo, trySys } from "../sys/libc";
import { isAlive, startTime } from "../sys/proc";
import { unixAddress } from "../sys/sockaddr";
import { BunkerError } from "../errors";

export type HelperName = "slirp4netns" | "pasta";

export class HelperError extends BunkerError {
  override name = "HelperError";
}

const DIRS = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"];

export function helperPath(name: HelperName, pathVar = ""): string | undefined {
  return findExecutable(name, [...pathVar.split(":").filter((d) => d.startsWith("/")), ...DIRS]);
}

export const PACKAGE: Record<HelperName, string> = { slirp4netns: "slirp4netns", pasta: "passt" };

/** Why this user cannot use a tap device (both helpers need /dev/net/tun), or undefined if they can. */
export function tunProblem(): string | undefined {
  const r = trySys("faccessat", AT.FDCWD, new TextEncoder().encode("/dev/net/tun\0"), 6 /* R_OK|W_OK */, 0);
  if (r === 0) return undefined;
  return `/dev/net/tun: ${errnoMessage(-r).toLowerCase()} (user-mode networking needs it readable and writable, mode 0666 as on a standard system)`;
}

/** A started helper: what identifies its process, and how to stop it. */
export interface RunningHelper {
  pid: number;
  pidStart?: number;
  /** Descriptors the helper's life depends on (slirp4netns's exit pipe): kept open while the container runs. */
  fds?: readonly number[];
  stop(): void;
}

function logTail(path: string): string {
  try {
    const lines = readText(path).split("\n").map((l) => l.trim()).filter((l) => l && !/syslog/.test(l));
    return lines.slice(-1)[0] ?? "";
  } catch {
    // the helper left no log: the error says what it can without it
    return "";
  }
}

function openLog(path: string): number {
  const fd = trySys("openat", AT.FDCWD, new TextEncoder().encode(`${path}\0`), O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600);
  if (fd < 0) throw new HelperError(`create ${path}: ${errnoMessage(-fd)}`);
  return fd;
}

/**
 * The start time of `pid` if it is a helper (by its command name), for a pid
 * read from pasta's pid file, which says nothing of which process wrote it.
 */
export function helperStart(pid: number): number | undefined {
  let comm = "";
  try {
    comm = readText(`/proc/${pid}/comm`, 64).trim();
  } catch {
    // gone
    return undefined;
  }
  if (!/^(pasta|passt|slirp4netns)/.test(comm)) return undefined;
  return startTime(pid) ?? undefined;
}

/** Stops a helper by pid, if that pid is still the helper (same start time), and waits a little for it to go. */
export function stopHelper(pid: number, pidStart: number | undefined): void {
  if (pidStart === undefined || !isAlive(pid, pidStart)) return;
  trySys("kill", pid, SIGNALS.SIGTERM);
  for (let i = 0; i < 400 && isAlive(pid, pidStart); i++) Bun.sleepSync(5);
  if (isAlive(pid, pidStart)) trySys("kill", pid, SIGNALS.SIGKILL);
}

/**
 * The helpers map an address inside to the host's loopback (slirp4netns
 * 10.0.2.2, pasta the gateway's address) unless told not to: that opens
 * every service the host binds to 127.0.0.1 only, so it is off unless
 * `allowHostLoopback` (podman's allow_host_loopback, off by default too).
 */
export async function startSlirp(binary: string, pid: number, ports: readonly PortMapping[], logPath: string, apiSocket: string, allowHostLoopback: boolean, exitRead?: number): Promise<RunningHelper> {
  const [readyR, readyW] = pipe("create slirp4netns's ready pipe", O.CLOEXEC);
  // Given `exitRead`, it ends when that pipe's write end closes, wherever it is (a rootless network
  // namespace's holder keeps it), and takes forwards through its API socket for as long as it lives.
  const [exitR, exitW] = exitRead !== undefined ? [exitRead, -1] : pipe("create slirp4netns's exit pipe", O.CLOEXEC);
  const api = ports.length > 0 || exitRead !== undefined;
  const log = openLog(logPath);
  let proc;
  try {
    const args = [
      binary,
      "--configure",
      "--mtu=65520",
      ...(allowHostLoopback ? [] : ["--disable-host-loopback"]),
      "--ready-fd=3",
      "--exit-fd=4",
      ...(api ? [`--api-socket=${apiSocket}`] : []),
      String(pid),
      "tap0",
    ];
    proc = Bun.spawn(args, { stdio: ["ignore", log, log, readyW, exitR], env: {} });
  } catch (e) {
    for (const fd of [readyR, readyW, exitR, exitW]) closeFd(fd);
    throw new HelperError(`start slirp4netns: ${(e as Error).message}`);
  } finally {
    closeFd(log);
  }
  closeFd(readyW);
  closeFd(exitR);
  const pidStart = startTime(proc.pid) ?? undefined;
  const stop = () => {
    if (exitW >= 0) closeFd(exitW);
    stopHelper(proc.pid, pidStart);
  };
  const ready = readUpTo("wait for slirp4netns", readyR, 1);
  closeFd(readyR);
  if (ready.length !== 1) {
    stop();
    const why = logTail(logPath);
    throw new HelperError(`slirp4netns failed to set up the network${why ? `: ${why}` : ""}`);
  }
  try {
    for (const p of expandPorts(ports)) addHostfwd(apiSocket, p);
  } catch (e) {
    stop();
    throw e;
  }
  return { pid: proc.pid, ...(pidStart !== undefined ? { pidStart } : {}), fds: exitW >= 0 ? [exitW] : [], stop };
}

/** A request to slirp4netns's API socket (JSON over a unix socket): its answer's "return", or a HelperError naming `what`. */
function slirpRequest(socketPath: string, request: object, what: string, busyPort?: number): Record<string, unknown> {
  const fd = trySys("socket", AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new HelperError(`${what}: ${errnoMessage(-fd)}`);
  try {
    const sa = unixAddress(socketPath);
    if (!sa) throw new HelperError(`${what}: the socket path ${socketPath} is too long`);
    const c = trySys("connect", fd, sa.addr, sa.len);
    if (c < 0) throw new HelperError(`${what}: connect to ${socketPath}: ${errnoMessage(-c)}`);
    const data = new TextEncoder().encode(JSON.stringify(request));
    const w = trySys("write", fd, data, data.length);
    if (w !== data.length) throw new HelperError(`${what}: write the request: ${errnoMessage(-w)}`);
    trySys("shutdown", fd, 1);
    const answer = new TextDecoder().decode(readUpTo(what, fd, 65536));
    let parsed: { error?: { desc?: string }; return?: Record<string, unknown> };
    try {
      parsed = JSON.parse(answer);
    } catch {
      // not JSON: said as it came
      throw new HelperError(`${what}: unexpected answer ${JSON.stringify(answer.slice(0, 80))}`);
    }
    if (parsed.error) {
      const desc = parsed.error.desc ?? "refused";
      throw new HelperError(busyPort !== undefined && /in use|bind/i.test(desc) ? `${what}: port ${busyPort} is already in use on the host` : `${what}: ${desc}`);
    }
    return parsed.return ?? {};
  } finally {
    closeFd(fd);
  }
}

/** One port forward through slirp4netns's API socket, to `guestAddr` when given (else its own guest's address): its id there. */
export function addHostfwd(socketPath: string, p: PortMapping, guestAddr?: string): number {
  const r = slirpRequest(
    socketPath,
    { execute: "add_hostfwd", arguments: { proto: p.protocol, host_addr: p.hostIp, host_port: p.hostPort, ...(guestAddr !== undefined ? { guest_addr: guestAddr } : {}), guest_port: p.containerPort } },
    `publish ${p.hostPort}/${p.protocol} through slirp4netns`,
    p.hostPort,
  );
  return Number(r.id);
}

/** Removes the forward `id` added by addHostfwd. */
export function removeHostfwd(socketPath: string, id: number): void {
  slirpRequest(socketPath, { execute: "remove_hostfwd", arguments: { id } }, `unpublish forward ${id} of slirp4netns`);
}

/** pasta's -t/-u list: ADDR/FIRST-LAST:FIRST-LAST for a range, as -p gave it. */
export function pastaPorts(ports: readonly PortMapping[], proto: "tcp" | "udp"): string {
  const span = (first: number, n: number) => (n > 1 ? `${first}-${first + n - 1}` : `${first}`);
  const list = ports
    .filter((p) => p.protocol === proto)
    .map((p) => `${p.hostIp === "0.0.0.0" ? "" : `${p.hostIp}/`}${span(p.hostPort, countOf(p))}:${span(p.containerPort, countOf(p))}`);
  return list.length ? list.join(",") : "none";
}

export async function startPasta(binary: string, pid: number, ports: readonly PortMapping[], logPath: string, pidFile: string, allowHostLoopback: boolean): Promise<RunningHelper> {
  const log = openLog(logPath);
  let proc;
  try {
    const args = [
      binary,
      "--config-net",
      "--quiet",
      ...(allowHostLoopback ? [] : ["--no-map-gw"]),
      "-I",
      "eth0",
      "-t",
      pastaPorts(ports, "tcp"),
      "-u",
      pastaPorts(ports, "udp"),
      "-T",
      "none",
      "-U",
      "none",
      "--pid",
      pidFile,
      String(pid),
    ];
    proc = Bun.spawn(args, { stdio: ["ignore", log, log], env: {} });
  } catch (e) {
    throw new HelperError(`start pasta: ${(e as Error).message}`);
  } finally {
    closeFd(log);
  }
  const code = await proc.exited;
  let daemon = NaN;
  try {
    daemon = Number(readText(pidFile).trim());
  } catch {
    // no pid file: it failed before forking
  }
  if (code !== 0 || !Number.isInteger(daemon) || daemon <= 0) {
    if (Number.isInteger(daemon) && daemon > 0) trySys("kill", daemon, SIGNALS.SIGTERM);
    const why = logTail(logPath);
    // Started as root, pasta switches to nobody before it opens the container's namespaces, which nobody may not open.
    const hint = process.geteuid?.() === 0 && /open .*namespace/i.test(why) ? ": pasta gives up root's privileges before it joins the container; as root, use --network bridge or slirp4netns" : "";
    throw new HelperError(`pasta failed to set up the network${why ? `: ${why}` : ` (status ${code})`}${hint}`);
  }
  const pidStart = startTime(daemon) ?? undefined;
  return { pid: daemon, ...(pidStart !== undefined ? { pidStart } : {}), stop: () => stopHelper(daemon, pidStart) };
}

// fuse-overlayfs serving a container's root filesystem, for a user whose
// kernel refuses overlayfs in a user namespace. It is started while the
// container's process waits to be released, joined to that process's user
// and mount namespaces (as root of the user namespace, so files keep the
// container's IDs), then in a mount namespace of its own whose mount point
// is a peer of the container's: it mounts the image's layers and the
// container's upper directory there, and the mount shows in the container's
// namespace, which (a user's) receives nothing back from the host's and
// sends nothing to it. Its own copy of the mount is then detached: the
// container's is the only one, and when the container's namespace goes, the
// filesystem goes and fuse-overlayfs exits. The child binds the mount as its
// root. fuse-overlayfs stays outside the container's PID namespace, where
// nothing inside can see or trace it; bunker also stops it when the
// container ends, and it dies with bunker (PR_SET_PDEATHSIG).

import { has } from "../sys/kernel";
import { planJoinProcess } from "./namespaces";
import { closeSync, openSync, readFileSync } from "node:fs";
import { BunkerError } from "../errors";
import { ChildProgram } from "../child/program";
import { planDescriptorsFrom } from "../child/descriptors";
import type { ImageRoot } from "../spec/types";
import { CLONE, MNT_DETACH, MS, SIGNALS, WNOHANG } from "../sys/constants";
import { closeFd, trySys, waitFor } from "../sys/libc";
import { isAlive, startTime } from "../sys/proc";
import { planHandshake } from "./plan";
import { fuseOverlayfs } from "./rootfs-driver";
import { closePipes, openPipes, spawnChild } from "./spawn";

export interface FuseOverlay {
  pid: number;
  pidStart?: number;
  /** Stops it (the container has ended): the mount goes with it. */
  stop(): void;
}

const READY_MS = 10_000;

/** A path as /proc/PID/mountinfo writes it (space, tab, newline and backslash in octal). */
const mountinfoPath = (p: string) => p.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);

/** Whether `point` is a fuse-overlayfs mount in the mount namespace of `pid`. */
function mounted(pid: number, point: string): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
  } catch {
    // the container's process is gone: the caller sees that from its own end
    return false;
  }
  const want = mountinfoPath(point);
  return text.split("\n").some((line) => {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    return f[4] === want && sep > 0 && f[sep + 1] === "fuse.fuse-overlayfs";
  });
}

/** Whether our child `pid` has ended (it is reaped then). */
function ended(pid: number): boolean {
  const status = new Int32Array(1);
  return trySys("wait4", pid, status, WNOHANG, 0) === pid;
}

function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join("; ");
  } catch {
    // no log was written
    return "";
  }
}

/** Stops fuse-overlayfs `pid` if it is still that process; waits a little for it to go. */
export function stopFuseOverlay(pid: number, pidStart: number | undefined, ours = false): void {
  if (pidStart === undefined || !isAlive(pid, pidStart)) {
    if (ours) ended(pid);
    return;
  }
  trySys("kill", pid, SIGNALS.SIGTERM);
  for (let i = 0; i < 400; i++) {
    if (ours ? ended(pid) : !isAlive(pid, pidStart)) return;
    Bun.sleepSync(5);
  }
  trySys("kill", pid, SIGNALS.SIGKILL);
  if (ours) ended(pid);
}

/**
 * Mounts `image` with fuse-overlayfs on image.merged in the namespaces of
 * the container's process `containerPid`; resolves once the mount is there.
 * `log` receives fuse-overlayfs's own words.
 */
export async function mountFuseOverlay(containerPid: number, image: ImageRoot, log: string): Promise<FuseOverlay> {
  const found = fuseOverlayfs(false);
  if ("refusal" in found) throw new BunkerError(`fuse-overlayfs: ${found.refusal}`);
  const dirs = [...image.lower, image.upper, image.work];
  const odd = dirs.find((d) => /[,:]/.test(d));
  if (odd !== undefined) throw new BunkerError(`fuse-overlayfs: ${odd}: a path with "," or ":" cannot be given to it (move the store with --storage)`);
  const options = `lowerdir=${[...image.lower].reverse().join(":")},upperdir=${image.upper},workdir=${image.work},allow_other`;
  // Without pidfds (before Linux 5.3) the namespaces are joined by their files (see planJoinProcess).
  const pidfd = has("pidfd") ? trySys("pidfd_open", containerPid, 0) : -1;
  if (pidfd < 0 && has("pidfd")) throw new BunkerError("fuse-overlayfs: the container's process is gone");
  const logFd = openSync(log, "w", 0o600);
  const nullFd = openSync("/dev/null", "r");
  const pipes = openPipes();
  const p = new ChildProgram();
  let joined: number[] = [];
  let pid: number;
  try {
    planHandshake(p, pipes);
    joined = planJoinProcess(p, containerPid, pidfd, CLONE.NEWUSER | CLONE.NEWNS, "the container's user and mount namespaces");
    p.call("become group 0 in the container's user namespace", "setresgid", [0, 0, 0]);
    p.call("become user 0 in the container's user namespace", "setresuid", [0, 0, 0]);
    // Its own mount namespace, so the container's pivot_root (which moves every process whose root is
    // the old one) leaves it where it is; the mount point, made a shared mount first, is a peer in both:
    // its mount there shows in the container's namespace too.
    p.call(`bind ${image.merged} onto itself`, "mount", [p.str(image.merged), p.str(image.merged), 0, MS.BIND, 0]);
    p.call(`make ${image.merged} a shared mount`, "mount", [0, p.str(image.merged), 0, MS.SHARED, 0]);
    p.call("create fuse-overlayfs's mount namespace", "unshare", [CLONE.NEWNS]);
    p.call("change directory to /", "chdir", [p.str("/")]);
    p.call("take /dev/null as fuse-overlayfs's stdin", "dup3", [nullFd, 0, 0]);
    p.call(`send fuse-overlayfs's output to ${log}`, "dup3", [logFd, 1, 0]);
    p.call(`send fuse-overlayfs's errors to ${log}`, "dup3", [logFd, 2, 0]);
    // Nothing of bunker's goes with it: a pipe end it held would keep `run -d` waiting for as long as it runs.
    planDescriptorsFrom(p, 3, "close the descriptors fuse-overlayfs does not need", true);
    const argv = p.arena.strv(["fuse-overlayfs", "-f", "-o", options, image.merged]);
    const envp = p.arena.strv([`PATH=${process.env.PATH ?? "/usr/bin:/bin"}`]);
    p.call(`exec ${found.path}`, "execve", [p.str(found.path), argv, envp]);
    // Its own memory: it outlives this call, and a second process on bunker's memory while the container's waits would share its errno.
    ({ pid } = await spawnChild(p, pipes, 0, () => {}, { shareMemory: false, forwardSignals: false }));
  } catch (e) {
    closePipes(pipes);
    throw e;
  } finally {
    for (const fd of [pidfd, ...joined]) if (fd >= 0) closeFd(fd);
    closeSync(logFd);
    closeSync(nullFd);
    p.retain(null);
  }
  const pidStart = startTime(pid) ?? undefined;
  const stop = () => stopFuseOverlay(pid, pidStart, true);
  const deadline = Date.now() + READY_MS;
  while (!mounted(containerPid, image.merged)) {
    if (ended(pid)) {
      const said = logTail(log);
      throw new BunkerError(`fuse-overlayfs could not mount the image${said ? `: ${said}` : ""}`);
    }
    if (Date.now() > deadline) {
      stop();
      throw new BunkerError(`fuse-overlayfs did not mount the image within ${READY_MS / 1000} s`);
    }
    await Bun.sleep(2);
  }
  try {
    await leaveToContainer(pid, image.merged);
  } catch (e) {
    stop();
    throw e;
  }
  return { pid, ...(pidStart !== undefined ? { pidStart } : {}), stop };
}

/**
 * Detaches fuse-overlayfs's own copy of its mount (in its mount namespace),
 * leaving the container's the only one: when the container's namespace
 * goes, the filesystem goes, and fuse-overlayfs, told so, exits by itself.
 */
async function leaveToContainer(daemon: number, point: string): Promise<void> {
  const pidfd = has("pidfd") ? trySys("pidfd_open", daemon, 0) : -1;
  if (pidfd < 0 && has("pidfd")) throw new BunkerError("fuse-overlayfs ended as it mounted the image");
  const pipes = openPipes();
  const p = new ChildProgram();
  planHandshake(p, pipes);
  const joined = planJoinProcess(p, daemon, pidfd, CLONE.NEWUSER | CLONE.NEWNS, "fuse-overlayfs's user and mount namespaces");
  // Its mounts leave the peer group first: a detach would reach the container's mount too.
  p.call("make fuse-overlayfs's mounts private", "mount", [0, p.str("/"), 0, MS.REC | MS.PRIVATE, 0]);
  p.call(`detach fuse-overlayfs's own mount on ${point}`, "umount2", [p.str(point), MNT_DETACH]);
  p.call("end", "exit_group", [0]);
  try {
    const { pid } = await spawnChild(p, pipes, 0, () => {}, { shareMemory: false, forwardSignals: false });
    waitFor(pid);
  } finally {
    for (const fd of [pidfd, ...joined]) closeFd(fd);
    p.retain(null);
  }
}

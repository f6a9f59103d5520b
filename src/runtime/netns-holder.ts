// The process that holds a user's rootless network namespace (see
// rootless-netns.ts): cloned into a new user, network and mount namespace,
// mapped as the user's containers are, it sets its namespaces up and then
// becomes native/init.c without a command (kilobytes that wait for SIGKILL),
// outliving the bunker that made it.

import { BunkerError } from "../errors";
import { ChildProgram } from "../child/program";
import { planDescriptorsFrom } from "../child/descriptors";
import { planLoopbackUp } from "../net/loopback";
import { AT, CLONE, F_SETFD, MS, O, PR_SET_PDEATHSIG } from "../sys/constants";
import { Errno } from "../sys/errno";
import { closeFd } from "../sys/libc";
import { initProgram } from "./initprog";
import { planHandshake } from "./plan";
import { closePipes, openPipes, spawnChild } from "./spawn";

/** The name the holder goes by in ps. */
export const HOLDER_NAME = "bunker-netns";

export interface HolderOptions {
  /** A file bound over /etc/resolv.conf in its mount namespace: the nameservers seen from its network. */
  resolvConf?: string;
  /** A descriptor it keeps open for its whole life (slirp4netns's exit pipe: the helper ends with it). */
  keep?: number;
  /** While it waits, before anything runs in its namespaces: its ID maps, and what else needs its pid. */
  beforeStart(pid: number): Promise<void>;
}

/** Writes 1 to /proc/sys/KEY, which is this network namespace's. */
function planSysctl(p: ChildProgram, key: string, what: string): void {
  const fd = p.newSlot();
  p.call(`open /proc/sys/${key}`, "openat", [AT.FDCWD, p.str(`/proc/sys/${key}`), O.WRONLY | O.CLOEXEC, 0], { save: fd });
  p.call(what, "write", [fd, p.str("1"), 1], { expect: { value: 1, errno: Errno.EIO } });
  p.call(`close /proc/sys/${key}`, "close", [fd]);
}

/** Starts the holder; resolves with its pid once it has become the waiting program. */
export async function spawnHolder(o: HolderOptions): Promise<number> {
  const init = initProgram();
  if ("unavailable" in init) throw new BunkerError(`start the rootless network namespace's holder: ${init.unavailable}`);
  const pipes = openPipes();
  const p = new ChildProgram();
  try {
    planHandshake(p, pipes);
    p.call("become group 0 in the user namespace", "setresgid", [0, 0, 0]);
    p.call("become user 0 in the user namespace", "setresuid", [0, 0, 0]);
    // Mounts made here (resolv.conf) stay here.
    p.call("make the mounts private", "mount", [0, p.str("/"), 0, MS.REC | MS.PRIVATE, 0]);
    if (o.resolvConf !== undefined) {
      p.call(`bind ${o.resolvConf} over /etc/resolv.conf`, "mount", [p.str(o.resolvConf), p.str("/etc/resolv.conf"), 0, MS.BIND, 0], { ignore: [Errno.ENOENT] });
    }
    planLoopbackUp(p);
    // The containers' packets pass through this namespace, between their veths and the helper's tap device.
    planSysctl(p, "net/ipv4/ip_forward", "turn IPv4 forwarding on");
    // slirp4netns asks for a published port's container address on its tap device, as if it were there.
    planSysctl(p, "net/ipv4/conf/all/proxy_arp", "answer ARP for the containers' addresses");
    const devnull = p.newSlot();
    p.call("open /dev/null", "openat", [AT.FDCWD, p.str("/dev/null"), O.RDWR | O.CLOEXEC, 0], { save: devnull });
    for (const fd of [0, 1, 2]) p.call(`take /dev/null as descriptor ${fd}`, "dup3", [devnull, fd, 0]);
    planDescriptorsFrom(p, 3, "mark every other descriptor close-on-exec");
    if (o.keep !== undefined) p.call("keep the helper's exit pipe open", "fcntl", [o.keep, F_SETFD, 0]);
    p.call("stay when bunker exits", "prctl", [PR_SET_PDEATHSIG, 0, 0, 0, 0]);
    // Nothing of the caller's terminal session.
    p.call("start a session", "setsid", []);
    const argv = p.arena.strv([HOLDER_NAME, "hold"]);
    p.call("become the holder program", "execveat", [init.fd, p.str(""), argv, p.arena.strv([]), AT.EMPTY_PATH]);
    const { pid } = await spawnChild(p, pipes, CLONE.NEWUSER | CLONE.NEWNET | CLONE.NEWNS, (pid) => o.beforeStart(pid), { forwardSignals: false });
    return pid;
  } catch (e) {
    closePipes(pipes);
    throw e;
  } finally {
    closeFd(init.fd);
    p.retain(null);
  }
}

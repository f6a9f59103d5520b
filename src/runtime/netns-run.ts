// Running bunker itself inside the user's rootless network namespace (see
// rootless-netns.ts): `bunker __netns --state DIR OP ARGS...` as root of its
// user namespace, in its network and mount namespaces, where it may make
// bridges, veths and NAT rules. The state directory is passed explicitly:
// there the euid is 0, and bunker would otherwise take root's.

import { BunkerError } from "../errors";
import { CLONE } from "../sys/constants";
import { FileError, openNamespace } from "../sys/fs";
import { closeFd } from "../sys/libc";
import { isAlive } from "../sys/proc";
import { currentRootlessNetns, type RootlessNetns } from "./rootless-netns";
import { stateDir } from "./state";
import { runHelper } from "./userns-helper";

const ORDER = [
  ["user", CLONE.NEWUSER],
  ["net", CLONE.NEWNET],
  ["mnt", CLONE.NEWNS],
] as const;

/** Opens the holder's namespaces, user first; then checks the holder is still the one recorded (its pid may have been reused). */
function openHolder(ns: RootlessNetns): { type: string; fd: number; flag: number }[] {
  const out: { type: string; fd: number; flag: number }[] = [];
  try {
    for (const [type, flag] of ORDER) out.push({ type, fd: openNamespace(`/proc/${ns.pid}/ns/${type}`), flag });
  } catch (e) {
    for (const o of out) closeFd(o.fd);
    if (e instanceof FileError) throw new BunkerError(`enter the rootless network namespace: ${e.message}`);
    throw e;
  }
  if (!isAlive(ns.pid, ns.pidStart)) {
    for (const o of out) closeFd(o.fd);
    throw new BunkerError(`enter the rootless network namespace: its holder (process ${ns.pid}) is gone`);
  }
  return out;
}

/**
 * `bunker __netns OP ARGS...` in the rootless network namespace (which must
 * exist: see ensureRootlessNetns), with `input` on its stdin and `fd` (a
 * container's namespace, which only bunker outside may open: /proc's ptrace
 * check) as its descriptor 3.
 */
export async function runInRootlessNetns(argv: string[], input?: Uint8Array, fd?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const ns = currentRootlessNetns();
  if (!ns) throw new BunkerError("enter the rootless network namespace: there is none (or its holder or helper has stopped)");
  const fds = openHolder(ns);
  try {
    return await runHelper(
      {
        command: "__netns",
        cloneFlags: 0,
        enter: (p) => {
          for (const j of fds) p.call(`join the rootless ${j.type} namespace`, "setns", [j.fd, j.flag]);
          p.call("become group 0 in the user namespace", "setresgid", [0, 0, 0]);
          p.call("become user 0 in the user namespace", "setresuid", [0, 0, 0]);
        },
      },
      ["--state", stateDir(), ...argv],
      input ? once(input) : undefined,
      undefined,
      fd,
    );
  } finally {
    for (const j of fds) closeFd(j.fd);
  }
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

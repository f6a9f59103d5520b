// Security steps in the child: the capability bounding set, capabilities
// across the --user switch, resource limits and no_new_privs.

import type { ChildProgram } from "../child/program";
import { CAPABILITIES, capNumber, capWords, type CapName } from "./caps";
import { LINUX_CAPABILITY_VERSION_3, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER } from "../sys/constants";
import { CAP_DATA_LAYOUT as CAP_DATA, CAP_HEADER_LAYOUT as CAP_HEADER, SOCK_FILTER_LAYOUT, SOCK_FPROG_LAYOUT as SOCK_FPROG } from "../sys/layouts";

export interface CapPlan {
  bounding: readonly CapName[];
  /** The sets after the user switch, each as the spec gives it. */
  effective: readonly CapName[];
  permitted: readonly CapName[];
  inheritable: readonly CapName[];
  ambient: readonly CapName[];
  /** The kernel's highest capability number (/proc/sys/kernel/cap_last_cap). */
  lastCap: number;
}

/** What bunker itself may hand on: its own bounding set (a capability outside it cannot be given). */
export interface CapLimits {
  lastCap: number;
  bounding: bigint;
}

/** Every capability up to CAP_CHECKPOINT_RESTORE (40): the limits when the kernel cannot be asked. */
export const ALL_CAP_LIMITS: CapLimits = { lastCap: 40, bounding: (1n << 41n) - 1n };

/** The plan from an OCI process.capabilities, within what bunker has. */
export function capPlan(c: { bounding?: string[]; effective?: string[]; permitted?: string[]; inheritable?: string[]; ambient?: string[] }, limits: CapLimits): CapPlan {
  const have = (name: CapName) => capNumber(name) <= limits.lastCap && ((limits.bounding >> BigInt(capNumber(name))) & 1n) === 1n;
  const bare = (caps: readonly string[] | undefined): CapName[] => (caps ?? []).map((x) => x.replace(/^CAP_/, "") as CapName).filter(have);
  return {
    bounding: bare(c.bounding),
    effective: bare(c.effective),
    permitted: bare(c.permitted),
    inheritable: bare(c.inheritable),
    ambient: bare(c.ambient),
    lastCap: limits.lastCap,
  };
}

/** Before the user switch, while still root in the container: drop from the bounding set, keep caps across setuid. */
export function planBoundingSet(p: ChildProgram, c: CapPlan, switchesUser: boolean): void {
  for (let n = 0; n <= c.lastCap; n++) {
    const name = CAPABILITIES[n];
    if (name && c.bounding.includes(name)) continue;
    p.call(`drop ${name ? `CAP_${name}` : `capability ${n}`} from the bounding set`, "prctl", [PR_CAPBSET_DROP, n, 0, 0, 0]);
  }
  if (switchesUser) p.call("keep capabilities across the user switch", "prctl", [PR_SET_KEEPCAPS, 1, 0, 0, 0]);
}

/** After the user switch: the final sets, and ambient capabilities (a non-root user's added ones). */
export function planCapabilities(p: ChildProgram, c: CapPlan, switchedUser: boolean): void {
  const header = p.arena.alloc(CAP_HEADER.SIZE, 8);
  const dv = new DataView(header.view.buffer, header.view.byteOffset, CAP_HEADER.SIZE);
  dv.setUint32(CAP_HEADER.version, LINUX_CAPABILITY_VERSION_3, true);
  const data = p.arena.alloc(2 * CAP_DATA.SIZE, 8);
  const d = new DataView(data.view.buffer, data.view.byteOffset, 2 * CAP_DATA.SIZE);
  // Two struct __user_cap_data_struct: the low words, then the high ones.
  const fields = [CAP_DATA.effective, CAP_DATA.permitted, CAP_DATA.inheritable];
  [c.effective, c.permitted, c.inheritable].forEach((set, i) => {
    const [lo, hi] = capWords(set);
    d.setUint32(fields[i]!, lo, true);
    d.setUint32(CAP_DATA.SIZE + fields[i]!, hi, true);
  });
  const same = c.permitted.join() === c.effective.join() && c.inheritable.join() === c.effective.join();
  const show = (set: readonly CapName[]) => (set.length ? set.join(",") : "none");
  const what = same ? show(c.effective) : `effective ${show(c.effective)}, permitted ${show(c.permitted)}, inheritable ${show(c.inheritable)}`;
  p.call(`set capabilities to ${what}`, "capset", [header.addr, data.addr]);
  p.call("clear ambient capabilities", "prctl", [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0]);
  // Without ambient capabilities a non-root program loses them all at execve.
  for (const cap of c.ambient) p.call(`keep CAP_${cap} across execve`, "prctl", [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capNumber(cap), 0, 0]);
  if (switchedUser) p.call("stop keeping capabilities across user switches", "prctl", [PR_SET_KEEPCAPS, 0, 0, 0, 0]);
}

export const RLIMITS: Record<string, number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

export interface Rlimit {
  name: string;
  soft: bigint;
  hard: bigint;
}

export function planRlimits(p: ChildProgram, limits: readonly Rlimit[]): void {
  for (const l of limits) {
    const res = RLIMITS[l.name]!;
    const addr = p.arena.words([l.soft, l.hard]);
    const show = (v: bigint) => (v === 0xffffffffffffffffn ? "unlimited" : String(v));
    p.call(`set the ${l.name} limit to ${show(l.soft)}:${show(l.hard)}`, "prlimit64", [0, res, addr, 0]);
  }
}

export function planNoNewPrivs(p: ChildProgram): void {
  p.call("set no_new_privs", "prctl", [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0]);
}

/** Installs a compiled filter (struct sock_filter[]) through its struct sock_fprog. */
export function planSeccomp(p: ChildProgram, filter: Uint8Array, what: string, flags = 0): void {
  const prog = p.arena.bytes(filter);
  const fprog = new Uint8Array(SOCK_FPROG.SIZE);
  const dv = new DataView(fprog.buffer);
  dv.setUint16(SOCK_FPROG.len, filter.length / SOCK_FILTER_LAYOUT.SIZE, true);
  dv.setBigUint64(SOCK_FPROG.filter, BigInt(prog), true);
  p.call(`install the ${what} seccomp filter${flags ? ` (flags ${flags})` : ""}`, "seccomp", [SECCOMP_SET_MODE_FILTER, flags, p.arena.bytes(fprog)]);
}

// A container's device rules, enforced by its cgroup: the v1 devices
// controller where the host has one, else an eBPF program attached to its
// cgroup v2 directory (see devicefilter.ts).

import type { LinuxDeviceCgroup } from "../spec/types";
import { attachProgram, BpfLoadError, loadProgram } from "../sys/bpf";
import { AT, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, O } from "../sys/constants";
import { SysError } from "../sys/errno";
import { writeValue } from "../sys/fs";
import { closeFd, sys } from "../sys/libc";
import { accessBits, allowsEverything, coversEverything, deviceProgram, isWildcard } from "./devicefilter";
import { BunkerError } from "../errors";


/** The rules could not be put in force: never a reason to run without them. */
export class DeviceRulesError extends BunkerError {
  override name = "DeviceRulesError";
}

/**
 * The writes that put `rules` into a new v1 devices cgroup, which starts out
 * allowing everything: "deny everything" first, unless the rules start from
 * a state of their own. "a" stands for every device, with every access.
 */
export function v1DeviceWrites(rules: readonly LinuxDeviceCgroup[]): { file: string; value: string }[] {
  const all = rules.length && coversEverything(rules[0]!) ? rules : [{ allow: false }, ...rules];
  const out: { file: string; value: string }[] = [];
  for (const r of all) {
    const file = r.allow ? "devices.allow" : "devices.deny";
    // A letter other than r, w or m is refused here, naming the rule, not as the kernel's bare EINVAL.
    accessBits(r.access);
    if (coversEverything(r)) {
      out.push({ file, value: "a" });
      continue;
    }
    const node = `${isWildcard(r.major) ? "*" : r.major}:${isWildcard(r.minor) ? "*" : r.minor}`;
    // v1 knows no type "a" short of every device: both kinds, each with the access.
    for (const type of (r.type ?? "a") === "a" ? ["c", "b"] : [r.type!]) out.push({ file, value: `${type} ${node} ${r.access ?? "rwm"}` });
  }
  return out;
}

/** Writes the rules into a v1 devices cgroup directory. */
export function applyV1DeviceRules(dir: string, rules: readonly LinuxDeviceCgroup[]): void {
  let writes;
  try {
    writes = v1DeviceWrites(rules);
  } catch (e) {
    throw new DeviceRulesError((e as Error).message);
  }
  for (const w of writes) {
    try {
      writeValue(`${dir}/${w.file}`, w.value);
    } catch (e) {
      if (e instanceof SysError) throw new DeviceRulesError(`device rule "${w.value}": ${e.message}`);
      throw e;
    }
  }
}

/** The verifier's reason: its last line that is not a statistic or an instruction it traced. */
function verifierReason(log: string): string {
  const lines = log.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^(processed |verification time|stack depth|\d+: |from \d+ to \d+)/.test(l));
  return lines.at(-1) ?? "";
}

/**
 * Loads the program for `rules` and attaches it to the cgroup v2 directory
 * `dir`; it goes with the directory. Rules that allow everything need none.
 */
export function attachDeviceProgram(dir: string, rules: readonly LinuxDeviceCgroup[]): void {
  let insns: Uint8Array;
  try {
    if (allowsEverything(rules)) return;
    insns = deviceProgram(rules);
  } catch (e) {
    throw new DeviceRulesError((e as Error).message);
  }
  let prog = -1;
  let cgroup = -1;
  try {
    prog = loadProgram("load the eBPF device program", BPF_PROG_TYPE_CGROUP_DEVICE, insns, "bunker_devices");
    cgroup = sys(`open ${dir}`, "openat", AT.FDCWD, new TextEncoder().encode(`${dir}\0`), O.RDONLY | O.DIRECTORY | O.CLOEXEC, 0);
    attachProgram(`attach the eBPF device program to ${dir}`, cgroup, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
  } catch (e) {
    if (e instanceof BpfLoadError) {
      const why = verifierReason(e.verifierLog);
      throw new DeviceRulesError(`${e.message}${why ? ` (the verifier says: ${why})` : ""}`);
    }
    if (e instanceof SysError) throw new DeviceRulesError(e.message);
    throw e;
  } finally {
    closeFd(cgroup);
    closeFd(prog);
  }
}

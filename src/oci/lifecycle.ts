// runc's start, state, kill, delete, list, pause and resume, on bunker's
// state records: one engine behind both front ends.

import { BunkerError } from "../errors";
import { UsageError, type OptionDefs } from "../options";
import { writeOut } from "../output";
import { setPaused } from "../runtime/cgroup";
import { gateShut } from "../runtime/gate";
import { containerPids, parseSignal, signalAll, signalContainer } from "../runtime/lifecycle";
import { reconcile, removeContainer, removeDamaged } from "../runtime/remove";
import { startContainer } from "../runtime/start";
import { runHooks } from "../runtime/hooks";
import { log } from "../log";
import { containerDir, currentStatus, findExact, isDamaged, listStates, processAlive, type ContainerState } from "../runtime/store";
import { oneId, parseOci } from "./parse";
import type { OciGlobals } from "./route";

/** runc's words, which clients match: "does not exist", "container not running". */
function lookup(id: string): ContainerState {
  const e = findExact(id);
  if (!e) throw new BunkerError(`container ${id} does not exist`);
  if (isDamaged(e)) throw new BunkerError(`container ${id} is damaged (${e.problem}): remove it with bunker delete --force ${id}`);
  return e;
}

export type OciStatus = "creating" | "created" | "running" | "paused" | "stopped";

/** The status as runc reports it: created until start opens the gate, paused while frozen. */
export function ociStatus(s: ContainerState): OciStatus {
  const status = currentStatus(s);
  if (status === "stopped") return "stopped";
  if (s.pid === undefined) return "creating";
  if (s.oci && gateShut(containerDir(s.id))) return processAlive(s) ? "created" : "stopped";
  if (status === "created") return "creating";
  return s.paused ? "paused" : "running";
}

/** runc's state JSON. */
export function stateJson(s: ContainerState): Record<string, unknown> {
  const status = ociStatus(s);
  return {
    ociVersion: s.spec.oci.ociVersion,
    id: s.name ?? s.id,
    pid: status === "stopped" ? 0 : (s.pid ?? 0),
    status,
    bundle: s.oci?.bundle ?? "",
    rootfs: s.spec.oci.root.path,
    created: s.created,
    owner: "",
    ...(s.oci?.annotations ? { annotations: s.oci.annotations } : {}),
  };
}

export async function start(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, {}, "start ID");
  await startContainer(lookup(oneId(parsed.rest, "start ID")));
  return 0;
}

export async function state(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, {}, "state ID");
  await writeOut(`${JSON.stringify(stateJson(lookup(oneId(parsed.rest, "state ID"))), null, 2)}\n`);
  return 0;
}

const KILL_OPTIONS: OptionDefs = { all: { type: "boolean", alias: ["a"], description: "Signal every process in the container" } };

export async function kill(_g: OciGlobals, argv: string[]): Promise<number> {
  const usage = "kill [--all] ID [SIGNAL]";
  const parsed = parseOci(argv, KILL_OPTIONS, usage);
  if (parsed.rest.length < 1 || parsed.rest.length > 2) throw new UsageError(`kill: expects a container id and a signal: bunker ${usage}`);
  const s = lookup(parsed.rest[0]!);
  const sig = parseSignal(parsed.rest[1] ?? "TERM");
  const signalled = parsed.values.all && s.cgroup ? signalAll(s.cgroup, sig) : await signalContainer(s, sig);
  if (!signalled) throw new BunkerError("container not running");
  return 0;
}

const DELETE_OPTIONS: OptionDefs = { force: { type: "boolean", alias: ["f"], description: "Kill a running container first" } };

export async function remove(_g: OciGlobals, argv: string[]): Promise<number> {
  const usage = "delete [--force] ID";
  const parsed = parseOci(argv, DELETE_OPTIONS, usage);
  const id = oneId(parsed.rest, usage);
  const e = findExact(id);
  if (!e) throw new BunkerError(`container ${id} does not exist`);
  if (isDamaged(e)) {
    if (!parsed.values.force) throw new BunkerError(`container ${id} is damaged (${e.problem}): remove it with bunker delete --force ${id}`);
    await removeDamaged(e);
    return 0;
  }
  const status = ociStatus(e);
  // A created container is deleted as runc does: its waiting process is killed (clients delete to abort).
  if (status !== "stopped" && status !== "created" && !parsed.values.force) throw new BunkerError(`cannot delete container ${id} that is not stopped: ${status}`);
  await removeContainer(e, true);
  // After the removal, as the runtime spec orders it; a failure is reported, the container is gone either way.
  for (const w of await runHooks("poststop", e, "stopped", 0)) await log.warn(w);
  return 0;
}

const LIST_OPTIONS: OptionDefs = {
  format: { type: "string", alias: ["f"], valueHint: "table|json", description: "Output format" },
  quiet: { type: "boolean", alias: ["q"], description: "Only ids" },
};

export async function list(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, LIST_OPTIONS, "list [--format table|json] [-q]");
  if (parsed.rest.length) throw new UsageError(`list: unexpected argument "${parsed.rest[0]}"`);
  const format = (parsed.values.format as string | undefined) ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`list: --format "${format}" is not table or json`);
  const states = (await reconcile(listStates())).map(stateJson);
  if (parsed.values.quiet) {
    await writeOut(states.map((s) => `${s.id}\n`).join(""));
    return 0;
  }
  if (format === "json") {
    await writeOut(`${JSON.stringify(states)}\n`);
    return 0;
  }
  const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...states.map((s) => [s.id, s.pid, s.status, s.bundle, s.created, s.owner].map(String))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  await writeOut(rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("")}\n`).join(""));
  return 0;
}

async function freeze(argv: string[], paused: boolean): Promise<number> {
  const name = paused ? "pause" : "resume";
  const parsed = parseOci(argv, {}, `${name} ID`);
  const s = lookup(oneId(parsed.rest, `${name} ID`));
  const status = ociStatus(s);
  if (paused && status !== "running") throw new BunkerError(`container ${s.name ?? s.id} is not running`);
  if (!paused && status !== "paused") throw new BunkerError(`container ${s.name ?? s.id} is not paused`);
  await setPaused(s, paused);
  return 0;
}

export const pause = (_g: OciGlobals, argv: string[]) => freeze(argv, true);
export const resume = (_g: OciGlobals, argv: string[]) => freeze(argv, false);

const PS_OPTIONS: OptionDefs = { format: { type: "string", alias: ["f"], valueHint: "table|json", description: "Output format" } };

/** runc's ps: the host pids as JSON, or the host's `ps` (default -ef) cut to the container's lines. */
export async function ps(_g: OciGlobals, argv: string[]): Promise<number> {
  const usage = "ps [--format table|json] ID [PS_OPTIONS...]";
  const parsed = parseOci(argv, PS_OPTIONS, usage);
  const [id, ...psArgs] = parsed.rest;
  if (id === undefined) throw new UsageError(`ps: no container given: bunker ${usage}`);
  const format = (parsed.values.format as string | undefined) ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError(`ps: --format "${format}" is not table or json`);
  const s = lookup(id);
  const pids = containerPids(s);
  if (format === "json") {
    if (psArgs.length) throw new UsageError("ps: --format json takes no ps options");
    await writeOut(`${JSON.stringify(pids)}\n`);
    return 0;
  }
  const out = Bun.spawnSync(["ps", ...(psArgs.length ? psArgs : ["-ef"])], { stdout: "pipe", stderr: "pipe" });
  if (out.exitCode !== 0) throw new BunkerError(`ps ${psArgs.join(" ")}: ${out.stderr.toString().trim() || `exit status ${out.exitCode}`}`);
  const [header, ...lines] = out.stdout.toString().split("\n");
  const column = (header ?? "").trim().split(/\s+/).indexOf("PID");
  if (column < 0) throw new BunkerError("ps: its output has no PID column");
  const wanted = new Set(pids.map(String));
  await writeOut([header, ...lines.filter((l) => wanted.has(l.trim().split(/\s+/)[column] ?? ""))].join("\n") + "\n");
  return 0;
}

// bunker ps [-a] [-q] [--json]

import { columns, duration, jsonText, shown, writeOut } from "../output";
import { clearLeftovers, currentStatus, isDamaged, killedWithSupervisor, listEntries, neverStarted, restartPending, type ContainerState, type Damaged } from "../runtime/store";
import { reconcile } from "../runtime/remove";
import { reconcileNetwork } from "../runtime/network";
import { reconcileCgroups } from "../runtime/cgroup";
import { reconcileImageRoots } from "../runtime/image-rootfs";
import { formatPort } from "../spec/ports";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";
import { readHealth } from "../runtime/health-record";

const options: OptionDefs = {
  all: { type: "boolean", alias: ["a"], description: "Include stopped and damaged containers" },
  quiet: { type: "boolean", alias: ["q"], description: "Only ids" },
  json: { type: "boolean", description: "JSON, one array" },
};

export function describeStatus(s: ContainerState): string {
  const status = currentStatus(s);
  if (status === "running") return `Up ${duration(s.started ?? s.created)}${s.paused ? " (Paused)" : healthSuffix(s)}`;
  if (status === "created" || neverStarted(s)) return "Created";
  if (restartPending(s)) return `Restarting (${s.exitCode ?? "unknown"}) ${duration(s.finished ?? s.created)} ago`;
  if (killedWithSupervisor(s)) return "Exited (killed with its bunker process)";
  if (s.exitCode === undefined) return "Exited (unknown)";
  return `Exited (${s.exitCode}${s.oomKilled ? ", out of memory" : ""}) ${duration(s.finished)} ago`;
}

/** docker's health note after "Up ...": " (healthy)", " (unhealthy)", " (health: starting)"; "" without a check. */
function healthSuffix(s: ContainerState): string {
  const h = readHealth(s);
  if (!h) return "";
  return h.Status === "starting" ? " (health: starting)" : ` (${h.Status})`;
}

export async function ps(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "ps", description: "List containers (running ones unless -a)", positional: "", examples: ["bunker ps -a", "bunker ps -q | xargs bunker stop"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`ps: unexpected argument "${parsed.rest[0]}"`);
  const v = parsed.values;
  clearLeftovers();
  const entries = listEntries();
  const all = await reconcile(entries.filter((e): e is ContainerState => !isDamaged(e)));
  await reconcileNetwork(all);
  reconcileCgroups();
  // Image containers' own directories whose state is gone (a bunker killed between the two).
  reconcileImageRoots(all);
  const states = all.filter((s) => v.all || currentStatus(s) !== "stopped" || restartPending(s));
  // A damaged state says nothing of the container's processes: only -a shows it.
  const damaged = v.all ? entries.filter(isDamaged) : [];
  if (v.json) {
    await writeOut(`${jsonText([...states.map(summary), ...damaged.map(damagedSummary)], 2)}\n`);
    return 0;
  }
  if (v.quiet) {
    await writeOut([...states, ...damaged].map((s) => `${s.id}\n`).join(""));
    return 0;
  }
  const rows = [["CONTAINER ID", "NAME", "STATUS", "PID", "PORTS", "COMMAND"]];
  for (const s of states) {
    const status = currentStatus(s);
    const ports = status === "running" ? (s.network?.ports ?? []).map(formatPort).join(", ") : "";
    // A starting container has its process already (bunker records it at clone).
    const pid = status !== "stopped" && s.pid !== undefined ? String(s.pid) : "";
    rows.push([s.id, s.name ?? "", describeStatus(s), pid, ports, s.command.join(" ").slice(0, 40)].map(shown));
  }
  for (const d of damaged) rows.push([d.id, d.names.join(","), `Damaged: ${d.problem}`, "", "", ""].map(shown));
  await writeOut(columns(rows));
  return 0;
}

/** The status with "paused" for a frozen running container. */
export function displayStatus(s: ContainerState): string {
  const status = currentStatus(s);
  if (status === "stopped" && restartPending(s)) return "restarting";
  if (neverStarted(s)) return "created";
  return status === "running" && s.paused ? "paused" : status;
}

export function summary(s: ContainerState) {
  return {
    id: s.id,
    name: s.name ?? null,
    status: displayStatus(s),
    pid: currentStatus(s) !== "stopped" ? (s.pid ?? null) : null,
    command: s.command,
    rootfs: s.rootfs,
    created: s.created,
    started: s.started ?? null,
    finished: s.finished ?? null,
    exitCode: s.exitCode ?? null,
    killedWithSupervisor: killedWithSupervisor(s),
    restartCount: s.restartCount ?? 0,
    // Networks made by `network create` by their names, as docker's ps --format {{.Networks}} gives them.
    network: (s.network?.mode ?? s.spec.bunker.network) === "named" ? (s.network?.networks?.map((n) => n.name) ?? s.spec.bunker.net?.networks?.map((n) => n.name) ?? []).join(",") : (s.network?.mode ?? s.spec.bunker.network),
    ports: currentStatus(s) === "running" ? (s.network?.ports ?? []).map(formatPort) : [],
    health: currentStatus(s) === "running" ? (readHealth(s)?.Status ?? null) : null,
  };
}

/** A damaged container in the same shape, with what is known: its id, names, and what is wrong. */
export function damagedSummary(d: Damaged) {
  return {
    id: d.id,
    name: d.names[0] ?? null,
    status: "damaged",
    problem: d.problem,
    pid: null,
    command: [],
    rootfs: null,
    created: null,
    started: null,
    finished: null,
    exitCode: null,
    killedWithSupervisor: false,
    restartCount: 0,
    network: null,
    ports: [],
    health: null,
  };
}

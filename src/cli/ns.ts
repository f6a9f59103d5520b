// bunker ns ID|NAME|PID [--json]; bunker ns pin ID|NAME DIR; bunker ns unpin DIR

import { resolve } from "node:path";
import { jsonText, shown, writeOut } from "../output";
import { BunkerError } from "../errors";
import { pruneMountPoints } from "../runtime/mountpoints";
import { pinContainer, unpinNamespaces } from "../runtime/pin";
import { currentStatus, resolveContainer } from "../runtime/store";
import { namespaceRows, processesBeside, processExists } from "../runtime/namespaces";
import { parseOptions, UsageError, type OptionDefs } from "../options";
import { parseCommand, printUsage, type CommandHelp } from "./usage";

const options: OptionDefs = { json: { type: "boolean", description: "JSON output" } };

/** A running container's first pid, or a plain pid. */
function targetPid(ref: string): { pid: number; container?: string } {
  try {
    const s = resolveContainer(ref);
    if (currentStatus(s) !== "running" || s.pid === undefined) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
    return { pid: s.pid, container: s.id };
  } catch (e) {
    if (/^\d+$/.test(ref) && processExists(Number(ref))) return { pid: Number(ref) };
    throw e;
  }
}

async function show(ref: string, json: boolean): Promise<number> {
  const { pid, container } = targetPid(ref);
  const rows = namespaceRows(pid);
  const procs = processesBeside(pid);
  if (json) {
    await writeOut(`${jsonText({ container: container ?? null, pid, namespaces: rows, processes: procs }, 2)}\n`);
    return 0;
  }
  const lines = [`namespaces of ${container ? `container ${container} (pid ${pid})` : `pid ${pid}`}, beside bunker's own:`, ""];
  lines.push(`${"TYPE".padEnd(8)}${"CONTAINER".padEnd(14)}${"HOST".padEnd(14)}`);
  for (const r of rows) lines.push(`${r.type.padEnd(8)}${String(r.inode).padEnd(14)}${String(r.host).padEnd(14)}${r.own ? "own" : "shared"}`);
  lines.push("", `${"HOST PID".padEnd(10)}${"PID".padEnd(6)}COMMAND`);
  // Command lines are the container's to write: on a terminal, their control characters show as escapes.
  for (const p of procs) lines.push(`${String(p.hostPid).padEnd(10)}${String(p.pid).padEnd(6)}${shown(p.command)}`);
  await writeOut(`${lines.join("\n")}\n`);
  return 0;
}

const HELP: CommandHelp = {
  name: "ns",
  description: "Show, pin and unpin a container's namespaces",
  positional: "ID|NAME|PID  |  pin ID|NAME DIR  |  unpin DIR",
  examples: ["bunker ns web --json", "bunker ns pin web /run/web-ns && bunker ns unpin /run/web-ns"],
  operands: "running",
};
const usage = () => printUsage(HELP.name, HELP.description, options, HELP.positional, HELP.examples);

export async function ns(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, HELP);
  if (!parsed) return 0;
  if (parsed.rest.length === 0) {
    await usage();
    throw new UsageError("ns: give a container, a pid, or pin/unpin");
  }
  const [first, ...after] = parsed.rest as [string, ...string[]];
  // Options may follow the first word too, as the usage writes them: `ns ID --json`, `ns pin --help`.
  const more = parseOptions(after, options, first === "pin" || first === "unpin" ? `ns ${first}` : "ns");
  if (more.help) {
    await usage();
    return 0;
  }
  const rest = more.rest;
  const json = parsed.values.json === true || more.values.json === true;
  if (first === "pin") {
    if (rest.length !== 2) throw new UsageError("ns pin: give a container and a directory");
    if (rest[1] === "") throw new UsageError("ns pin: the directory path is empty");
    const s = resolveContainer(rest[0]!);
    if (currentStatus(s) !== "running" || s.pid === undefined) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
    const dir = resolve(rest[1]!);
    const pinned = pinContainer(s.id, dir);
    await writeOut(pinned.map((t) => `${dir}/${t}\n`).join(""));
    return 0;
  }
  if (first === "unpin") {
    if (rest.length !== 1) throw new UsageError("ns unpin: give the directory");
    if (rest[0] === "") throw new UsageError("ns unpin: the directory path is empty");
    const dir = resolve(rest[0]!);
    const types = unpinNamespaces(dir);
    // A mount namespace pinned after its container ended was the last user of the mount points made in its rootfs.
    pruneMountPoints();
    await writeOut(types.map((t) => `${dir}/${t}\n`).join(""));
    return 0;
  }
  if (rest.length) throw new UsageError(`ns: unexpected argument "${rest[0]}"`);
  return show(first, json);
}

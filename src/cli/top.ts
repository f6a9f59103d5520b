// bunker top CONTAINER [-o FIELD,...]: a running container's processes, as
// docker top shows them (ps -ef's columns by default), read from /proc.

import { BunkerError } from "../errors";
import { columns, jsonText, writeOut } from "../output";
import { containerProcesses, hostUserNames, type ProcessInfo } from "../runtime/processes";
import { currentStatus, resolveContainer } from "../runtime/store";
import { parseOptions, UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  format: { type: "string", alias: ["o"], valueHint: "FIELD,...", description: `Columns as ps -o names them: ${"pid, ppid, uid, user, stat, pcpu, time, etime, stime, nlwp, rss, vsz, tty, comm, args"}` },
  json: { type: "boolean", description: "JSON, every field of every process" },
};

/** [DD-]HH:MM:SS, as ps writes a time. */
function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, "0")).join(":");
  return d ? `${d}-${hms}` : hms;
}

export async function top(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "top", description: "List a running container's processes (host pids, as docker top shows them)", positional: "CONTAINER", operands: "running", examples: ["bunker top web", "bunker top web -o pid,user,rss,args"] });
  if (!parsed) return 0;
  const [ref, ...after] = parsed.rest;
  if (ref === undefined) throw new UsageError("top: no container given");
  // docker's order: the ps options come after the container.
  const more = parseOptions(after, options, "top");
  if (more.rest.length) throw new UsageError(`top: unexpected argument "${more.rest[0]}" (ps options: -o FIELD,...)`);
  Object.assign(parsed.values, more.values);
  const s = resolveContainer(ref);
  if (currentStatus(s) !== "running" || s.pid === undefined) throw new BunkerError(`top: container ${s.name ?? s.id} is not running`);
  const procs = containerProcesses(s.pid);
  if (parsed.values.json) {
    await writeOut(`${jsonText(procs, 2)}\n`);
    return 0;
  }
  const names = hostUserNames();
  const user = (p: ProcessInfo) => names.get(p.uid) ?? String(p.uid);
  const now = new Date();
  const stime = (p: ProcessInfo) => {
    const d = new Date(p.started);
    return d.toDateString() === now.toDateString() ? `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}` : `${d.toLocaleString("en", { month: "short" })}${String(d.getDate()).padStart(2, "0")}`;
  };
  const FIELDS: Record<string, [string, (p: ProcessInfo) => string]> = {
    pid: ["PID", (p) => String(p.pid)],
    ppid: ["PPID", (p) => String(p.ppid)],
    uid: ["UID", (p) => String(p.uid)],
    user: ["USER", user],
    stat: ["STAT", (p) => p.stat],
    pcpu: ["%CPU", (p) => (p.elapsed > 0 ? ((p.cpuSeconds / p.elapsed) * 100).toFixed(1) : "0.0")],
    c: ["C", (p) => String(p.elapsed > 0 ? Math.floor((p.cpuSeconds / p.elapsed) * 100) : 0)],
    time: ["TIME", (p) => clock(p.cpuSeconds)],
    etime: ["ELAPSED", (p) => clock(p.elapsed)],
    stime: ["STIME", stime],
    nlwp: ["NLWP", (p) => String(p.threads)],
    rss: ["RSS", (p) => String(p.rssKiB)],
    vsz: ["VSZ", (p) => String(p.vszKiB)],
    tty: ["TTY", (p) => p.tty],
    comm: ["COMMAND", (p) => p.comm],
    args: ["COMMAND", (p) => p.args],
  };
  const want = ((parsed.values.format as string | undefined) ?? "").split(",").filter(Boolean);
  for (const w of want) if (!FIELDS[w]) throw new UsageError(`top: -o ${w}: not a field bunker shows (${Object.keys(FIELDS).join(", ")})`);
  // ps -ef's columns, the first one the user's name.
  const cols = want.length ? want.map((w) => FIELDS[w]!) : [["UID", user] as [string, (p: ProcessInfo) => string], FIELDS.pid!, FIELDS.ppid!, FIELDS.c!, FIELDS.stime!, FIELDS.tty!, FIELDS.time!, ["CMD", (p: ProcessInfo) => p.args] as [string, (p: ProcessInfo) => string]];
  await writeOut(columns([cols.map(([h]) => h), ...procs.map((p) => cols.map(([, f]) => f(p)))]));
  return 0;
}

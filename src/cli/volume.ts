// bunker volume create|ls|inspect|rm|prune: named volumes, as docker's
// local driver keeps them (runtime/volume-store.ts).

import { BunkerError } from "../errors";
import { columns, jsonText, shown, writeErr, writeOut } from "../output";
import { formatBytes } from "../spec/resources";
import { checkVolumeName } from "../spec/volumes";
import { ANONYMOUS_LABEL, anonymousName, createVolume, listVolumes, readVolume, volumePath, type VolumeRecord } from "../runtime/volume-store";
import { removeVolume, volumesInUse } from "../runtime/volume-use";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { labelsOf } from "./runspec";
import { diskUse } from "./system";
import { parseCommand, runGroup } from "./usage";

/** A volume as docker's `volume inspect` shows it. */
function shownVolume(r: VolumeRecord) {
  const p = volumePath(r.Name);
  return { CreatedAt: r.CreatedAt, Driver: "local", Labels: r.Labels, Mountpoint: p?.data ?? "", Name: r.Name, Options: r.Options, Scope: "local" };
}

type Shown = ReturnType<typeof shownVolume>;

const FIELDS = ["Name", "Driver", "Mountpoint", "Scope", "CreatedAt", "Labels", "Options"] as const;

/** One field of a volume as a Go template prints it (a map as docker's volume ls prints Labels: k=v,k=v). */
function fieldText(v: Shown, field: string): string {
  if (!FIELDS.includes(field as (typeof FIELDS)[number])) throw new UsageError(`--format: a volume has no field ${field} (it has ${FIELDS.join(", ")})`);
  const value = v[field as keyof Shown];
  if (typeof value === "object") return Object.entries(value).map(([k, x]) => `${k}=${x}`).join(",");
  return value;
}

/**
 * The part of Go's templates that volume scripts use: {{.Field}},
 * {{json .}}, {{json .Field}}, \t and \n, and a leading "table" for
 * headed columns.
 */
export function formatVolumes(template: string, volumes: readonly Shown[]): string {
  const table = template.startsWith("table");
  const body = (table ? template.slice(5).trimStart() : template).replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const render = (v: Shown | null) =>
    body.replace(/\{\{\s*(json\s+)?\.(\w*)\s*\}\}/g, (whole, json: string | undefined, field: string) => {
      if (v === null) return field === "" ? "" : field.toUpperCase();
      if (json) return jsonText(field === "" ? v : v[field as keyof Shown] ?? fieldText(v, field));
      if (field === "") throw new UsageError(`--format ${template}: {{.}} is not printable: use {{json .}}`);
      return shown(fieldText(v, field));
    });
  const unknown = /\{\{(?!\s*(json\s+)?\.\w*\s*\}\})[^}]*\}\}/.exec(body);
  if (unknown) throw new UsageError(`--format: bunker does not know ${unknown[0]} (use {{.Field}}, {{json .}} or {{json .Field}})`);
  const lines = volumes.map(render);
  if (!table) return lines.map((l) => `${l}\n`).join("");
  return columns([render(null).split("\t"), ...lines.map((l) => l.split("\t"))]);
}

/** --filter KEY=VALUE of ls and prune: dangling, name (a part of it), label (KEY or KEY=VALUE; label! for its absence). */
function volumeFilter(filters: readonly string[], inUse: ReadonlySet<string>, keys: readonly string[]): (r: VolumeRecord) => boolean {
  const tests = filters.map((f) => {
    const m = /^(label!?|dangling|name|all)=(.*)$/.exec(f);
    if (!m || !keys.includes(m[1]!)) throw new UsageError(`--filter ${f}: use ${keys.map((k) => `${k}=...`).join(", ")}`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "dangling" || key === "all") {
      if (!["true", "false", "1", "0"].includes(value)) throw new UsageError(`--filter ${f}: ${key} takes true or false`);
      const want = value === "true" || value === "1";
      if (key === "all") return () => true;
      return (r: VolumeRecord) => !inUse.has(r.Name) === want;
    }
    if (key === "name") return (r: VolumeRecord) => r.Name.includes(value);
    const eq = value.indexOf("=");
    const has = (r: VolumeRecord) => (eq < 0 ? value in r.Labels : r.Labels[value.slice(0, eq)] === value.slice(eq + 1));
    return key === "label" ? has : (r: VolumeRecord) => !has(r);
  });
  return (r) => tests.every((t) => t(r));
}

const strings = (v: unknown) => (v as string[] | undefined) ?? [];

async function create(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      label: { type: "string", multiple: true, valueHint: "KEY=VALUE", description: "A label of the volume" },
      opt: { type: "string", multiple: true, alias: ["o"], valueHint: "KEY=VALUE", description: "A driver option (the local driver's type, device and o are not supported yet)" },
      driver: { type: "string", alias: ["d"], valueHint: "local", description: "The volume driver: local (the only one)" },
    },
    { name: "volume create", description: "Make a volume (a random name when none is given); a volume that exists is left as it is", positional: "[NAME]", examples: ["bunker volume create pgdata", "bunker volume create --label project=web cache"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length > 1) throw new UsageError(`volume create: one name at most (got ${parsed.rest.length})`);
  const driver = parsed.values.driver as string | undefined;
  if (driver !== undefined && driver !== "local") throw new UsageError(`volume create: driver "${driver}": bunker has only the local driver`);
  const options = labelsOf(strings(parsed.values.opt), "--opt");
  const unsupported = Object.keys(options)[0];
  if (unsupported !== undefined) throw new UsageError(`volume create: --opt ${unsupported}: bunker's local volumes are directories and take no mount options yet (type, device, o)`);
  const name = parsed.rest[0] ?? anonymousName();
  checkVolumeName(name, "volume create");
  const { record } = createVolume(name, labelsOf(strings(parsed.values.label), "--label"), options);
  await writeOut(`${record.Name}\n`);
  return 0;
}

async function ls(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      quiet: { type: "boolean", alias: ["q"], description: "Only the names" },
      format: { type: "string", valueHint: "json|TEMPLATE", description: "json: one JSON object a line; or a Go template ({{.Name}}, {{.Mountpoint}}, table ...)" },
      filter: { type: "string", multiple: true, alias: ["f"], valueHint: "KEY=VALUE", description: "dangling=true|false, name=PART, label=KEY[=VALUE] (repeatable: all must hold)" },
    },
    { name: "volume ls", description: "List volumes", positional: "", examples: ["bunker volume ls --filter dangling=true -q", "bunker volume ls --format '{{.Name}}\\t{{.Mountpoint}}'"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`volume ls: unexpected argument "${parsed.rest[0]}"`);
  const keep = volumeFilter(strings(parsed.values.filter), volumesInUse(), ["dangling", "name", "label", "label!"]);
  const volumes = listVolumes().filter(keep).map(shownVolume);
  const format = parsed.values.format as string | undefined;
  if (parsed.values.quiet) await writeOut(volumes.map((v) => `${shown(v.Name)}\n`).join(""));
  else if (format === "json") await writeOut(volumes.map((v) => `${jsonText({ Driver: v.Driver, Labels: fieldText(v, "Labels"), Links: "N/A", Mountpoint: v.Mountpoint, Name: v.Name, Scope: v.Scope, Size: "N/A" })}\n`).join(""));
  else if (format !== undefined && format !== "table") await writeOut(formatVolumes(format, volumes));
  else await writeOut(columns([["DRIVER", "VOLUME NAME"], ...volumes.map((v) => [v.Driver, shown(v.Name)])]));
  return 0;
}

async function inspect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    { format: { type: "string", alias: ["f"], valueHint: "TEMPLATE", description: "A Go template for each ({{.Mountpoint}}, {{json .Labels}})" } },
    { name: "volume inspect", description: "Show volumes as JSON (docker's fields)", positional: "NAME...", examples: ["bunker volume inspect pgdata", "bunker volume inspect -f '{{.Mountpoint}}' pgdata"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("volume inspect: no volume given");
  const found: Shown[] = [];
  let failed = false;
  for (const name of parsed.rest) {
    const r = readVolume(name);
    if (r) found.push(shownVolume(r));
    else {
      failed = true;
      await writeErr(`bunker: volume inspect ${name}: no such volume\n`);
    }
  }
  const format = parsed.values.format as string | undefined;
  await writeOut(format !== undefined ? formatVolumes(format, found) : `${jsonText(found, 4)}\n`);
  return failed ? 1 : 0;
}

async function rm(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    { force: { type: "boolean", alias: ["f"], description: "A volume that does not exist is no error (one in use is still refused)" } },
    { name: "volume rm", description: "Remove volumes no container uses", positional: "NAME...", examples: ["bunker volume rm pgdata", "bunker volume rm -f cache old"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("volume rm: no volume given");
  const force = parsed.values.force === true;
  const code = await forEach(parsed.rest, (name) => name, async (name) => removeVolume(name, force));
  await sweep();
  return code;
}

/** What removals left in the store's tmp (files of a user's other IDs), removed through the helper. */
async function sweep(): Promise<void> {
  await (await import("../runtime/userns-helper")).sweepLeftovers();
}

/**
 * Removes the volumes no container uses that `filters` keep: anonymous ones
 * only, unless `all` (docker 23's rule). Returns their names and bytes.
 */
export async function pruneVolumes(all: boolean, filters: readonly string[] = []): Promise<{ names: string[]; bytes: number; failures: string[] }> {
  const inUse = volumesInUse();
  const keep = volumeFilter(filters, inUse, ["label", "label!", "all"]);
  const everything = all || filters.some((f) => /^all=(true|1)$/.test(f));
  const out = { names: [] as string[], bytes: 0, failures: [] as string[] };
  for (const r of listVolumes()) {
    if (inUse.has(r.Name) || !keep(r) || (!everything && !(ANONYMOUS_LABEL in r.Labels))) continue;
    const bytes = diskUse(volumePath(r.Name)?.data ?? "");
    try {
      removeVolume(r.Name, true);
      out.names.push(r.Name);
      out.bytes += bytes;
    } catch (e) {
      if (!(e instanceof BunkerError)) throw e;
      out.failures.push(e.message);
    }
  }
  await sweep();
  return out;
}

/** Whether the person at the terminal says yes; refused without one (-f says it in a script). */
export async function confirm(question: string, command: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError(`${command}: add -f to do it without asking`);
  process.stdout.write(`${question} Are you sure? [y/N] `);
  const answer = await new Promise<string>((resolve) => process.stdin.once("data", (d) => resolve(String(d))));
  process.stdin.pause();
  return /^y(es)?\s*$/i.test(answer);
}

async function prune(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      all: { type: "boolean", alias: ["a"], description: "Every volume no container uses, not only anonymous ones" },
      filter: { type: "string", multiple: true, valueHint: "KEY=VALUE", description: "label=KEY[=VALUE], label!=KEY[=VALUE], all=true" },
      force: { type: "boolean", alias: ["f"], description: "Do not ask" },
    },
    { name: "volume prune", description: "Remove the anonymous volumes no container uses (-a: every unused volume)", positional: "", examples: ["bunker volume prune -f", "bunker volume prune -af --filter label=project=web"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`volume prune: unexpected argument "${parsed.rest[0]}"`);
  const all = parsed.values.all === true;
  if (!parsed.values.force && !(await confirm(`This removes ${all ? "every volume" : "every anonymous volume"} no container uses.`, "volume prune"))) return 0;
  const r = await pruneVolumes(all, strings(parsed.values.filter));
  await writeOut(`${r.names.length ? `Deleted Volumes:\n${r.names.map((n) => `${n}\n`).join("")}\n` : ""}Total reclaimed space: ${formatBytes(r.bytes)}\n`);
  for (const f of r.failures) await writeErr(`bunker: ${f}\n`);
  return r.failures.length ? 1 : 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { create, ls, list: ls, inspect, rm, remove: rm, prune };

export async function volume(argv: string[]): Promise<number> {
  return runGroup(argv, {
    name: "volume",
    description:
      "Named volumes, kept in the image store's volumes/ directory. run -v NAME:/path mounts one read-write (made if missing; an image's content there is copied into an empty one); -v /path, a new anonymous one",
    commands: COMMANDS,
    examples: ["bunker volume create pgdata", "bunker run -d -v pgdata:/var/lib/postgresql/data postgres", "bunker volume ls --format json"],
  });
}

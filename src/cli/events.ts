// bunker events [--since T] [--until T] [--filter KEY=VALUE ...] [--format json|TEMPLATE]

import { jsonText, shown, writeOut } from "../output";
import { UsageError, suggestion, type OptionDefs } from "../options";
import { CONTAINER_ACTIONS, EVENT_TYPES, IMAGE_ACTIONS, nowNanos, type EventRecord } from "../runtime/events";
import { followEvents } from "../runtime/event-reader";
import { stateDir } from "../runtime/state";
import { parseLogTime } from "./logs";
import { compileTemplate } from "./template";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  since: { type: "string", valueHint: "TIME", description: "Show events from TIME on first: 2026-11-30T10:00:00Z, a Unix time, or a duration before now (10m, 1h30m)" },
  until: { type: "string", valueHint: "TIME", description: "Stop at TIME (same forms): without it, new events are shown until Ctrl-C" },
  filter: { type: "string", alias: ["f"], multiple: true, valueHint: "KEY=VALUE", description: "Only matching events: container=, event=, image=, label=KEY[=VALUE], network=, type=, volume= (the same key again widens, another key narrows)" },
  format: { type: "string", valueHint: "json|TEMPLATE", description: "json: one JSON object a line; or a Go template such as '{{.Status}} {{.Actor.Attributes.name}}'" },
};

const FILTER_KEYS = ["container", "event", "image", "label", "network", "type", "volume"] as const;
type FilterKey = (typeof FILTER_KEYS)[number];

/** The actions --filter event= knows: every type's. */
const ACTIONS: readonly string[] = [...CONTAINER_ACTIONS, ...IMAGE_ACTIONS];

/** docker's rule: values of one key are alternatives, different keys must all match. */
function parseFilters(values: readonly string[]): Map<FilterKey, string[]> {
  const out = new Map<FilterKey, string[]>();
  for (const f of values) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new UsageError(`events: --filter ${f}: use KEY=VALUE (keys: ${FILTER_KEYS.join(", ")})`);
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    if (!FILTER_KEYS.includes(key as FilterKey)) throw new UsageError(`events: --filter ${f}: unknown key "${key}"${suggestion(key, FILTER_KEYS) || ` (keys: ${FILTER_KEYS.join(", ")})`}`);
    if (key === "type" && !EVENT_TYPES.includes(value as (typeof EVENT_TYPES)[number])) throw new UsageError(`events: --filter ${f}: type is one of ${EVENT_TYPES.join(", ")}${suggestion(value, EVENT_TYPES)}`);
    if (key === "event" && !ACTIONS.includes(value)) throw new UsageError(`events: --filter ${f}: unknown event "${value}"${suggestion(value, ACTIONS) || ` (events: ${ACTIONS.join(", ")})`}`);
    const list = out.get(key as FilterKey) ?? [];
    list.push(value);
    out.set(key as FilterKey, list);
  }
  return out;
}

/** An image name as the store keeps it for comparing: "alpine" and "alpine:latest" are one. */
const imageKey = (ref: string) => (/^sha256:|@|:[^/]*$/.test(ref) ? ref : `${ref}:latest`);

function matches(e: EventRecord, filters: Map<FilterKey, string[]>): boolean {
  const attrs = e.Actor.Attributes;
  const test: Record<FilterKey, (v: string) => boolean> = {
    type: (v) => e.Type === v,
    // "exec_start: sh -c ..." is an exec_start.
    event: (v) => e.Action === v || e.Action.startsWith(`${v}: `),
    container: (v) => e.Type === "container" && (attrs.name === v || e.Actor.ID === v || (v.length >= 3 && e.Actor.ID.startsWith(v))),
    image: (v) => {
      const names = e.Type === "image" ? [e.Actor.ID, attrs.name] : e.Type === "container" ? [attrs.image] : [];
      return names.some((n) => n !== undefined && (n === v || imageKey(n) === imageKey(v)));
    },
    volume: (v) => e.Type === "volume" && e.Actor.ID === v,
    network: (v) => e.Type === "network" && (e.Actor.ID === v || attrs.name === v),
    label: (v) => {
      const eq = v.indexOf("=");
      return eq < 0 ? attrs[v] !== undefined : attrs[v.slice(0, eq)] === v.slice(eq + 1);
    },
  };
  for (const [key, values] of filters) if (!values.some(test[key])) return false;
  return true;
}

/** RFC 3339 with nanoseconds, in UTC: docker's form of an event's time. */
export function eventTime(nanos: bigint): string {
  const iso = new Date(Number(nanos / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${String(nanos % 1_000_000_000n).padStart(9, "0")}Z`;
}

/** docker's line: TIME TYPE ACTION ID (k=v, ...), the attributes sorted. */
function textLine(e: EventRecord): string {
  const attrs = Object.entries(e.Actor.Attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const tail = attrs.length ? ` (${attrs.map(([k, v]) => `${k}=${v}`).join(", ")})` : "";
  return `${eventTime(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID}${tail}`;
}

/** What a template sees: docker's Go names for the message's fields. */
const templateValue = (e: EventRecord) => ({
  Status: e.status ?? "",
  ID: e.id ?? "",
  From: e.from ?? "",
  Type: e.Type,
  Action: e.Action,
  Actor: { ID: e.Actor.ID, Attributes: e.Actor.Attributes },
  Scope: e.scope,
  Time: e.time,
  TimeNano: e.timeNano,
});

const FIELDS = ["Status", "ID", "From", "Type", "Action", "Actor", "Scope", "Time", "TimeNano"];

function checkField(path: string[]): string | null {
  const [top, sub, ...more] = path;
  if (top === undefined) return null;
  if (!FIELDS.includes(top)) return `an event has no field ${top}${suggestion(top, FIELDS, ".") || ` (fields: ${FIELDS.join(", ")})`}`;
  if (sub === undefined) return null;
  if (top !== "Actor") return `${top} has no field ${sub}`;
  if (sub !== "ID" && sub !== "Attributes") return `Actor has no field ${sub} (fields: ID, Attributes)`;
  if (sub === "ID" && more.length) return `Actor.ID has no field ${more[0]}`;
  return more.length > 1 ? `an attribute has no field ${more[1]}` : null;
}

export async function events(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "events",
    description: "Show what happens to containers and images, as it happens (and with --since, what happened before)",
    positional: "",
    examples: ["bunker events --filter container=web --filter event=die", "bunker events --since 1h --until 0s --format '{{.Action}} {{.Actor.Attributes.name}}'"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`events: unexpected argument "${parsed.rest[0]}"`);
  const v = parsed.values;
  const now = nowNanos();
  const since = v.since !== undefined ? parseLogTime(v.since as string, "--since", now) : undefined;
  const until = v.until !== undefined ? parseLogTime(v.until as string, "--until", now) : undefined;
  if (since !== undefined && until !== undefined && until < since) throw new UsageError(`events: --until ${v.until as string} is before --since ${v.since as string}`);
  const filters = parseFilters((v.filter as string[] | undefined) ?? []);
  const format = v.format as string | undefined;
  const template = format !== undefined && format !== "json" ? compileTemplate(format, checkField) : undefined;
  const render = (e: EventRecord): string => {
    if (format === "json") return jsonText(e);
    return shown(template ? template.render(templateValue(e)) : textLine(e));
  };
  try {
    await followEvents(stateDir(), {
      // Past events only when a window asks for them (docker's rule); else only what comes from now on.
      history: since !== undefined || until !== undefined,
      ...(until !== undefined ? { until } : {}),
      show: async (batch) => {
        const lines = batch.filter((e) => (since === undefined || e.timeNano >= since) && (until === undefined || e.timeNano <= until) && matches(e, filters)).map(render);
        if (lines.length) await writeOut(lines.map((l) => `${l}\n`).join(""));
      },
    });
  } catch (e) {
    // Whoever read the events has gone (`bunker events | head -1`): nothing more to do.
    if ((e as NodeJS.ErrnoException).code === "EPIPE") return 0;
    throw e;
  }
  return 0;
}

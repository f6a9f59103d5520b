// bunker network create|ls|inspect|rm|prune|connect|disconnect: the default
// bridge (bunker0, named "bridge" as docker's) and networks users make.

import { createHash } from "node:crypto";
import { BunkerError } from "../errors";
import { columns, jsonText, shown, writeErr, writeOut } from "../output";
import { networkOverview, pruneNetwork, reconcileNetwork } from "../runtime/network";
import { createNetwork, listNetworks, networkByRef, removeNetwork, type NetworkUse } from "../runtime/networks";
import { connectNetwork, disconnectNetwork } from "../runtime/network-connect";
import { createRootless, releaseIfUnused, removeRootless } from "../runtime/network-rootless";

const isRoot = () => (process.geteuid?.() ?? 0) === 0;
import { recordEvent } from "../runtime/events";
import { UsageError } from "../options";
import { forEach } from "./each";
import { labelsOf } from "./runspec";
import { compileTemplate } from "./template";
import { parseCommand, runGroup } from "./usage";

const strings = (v: unknown) => (v as string[] | undefined) ?? [];

/** A network as `network inspect` shows it: docker's fields. */
interface Shown {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: "bridge";
  EnableIPv6: boolean;
  IPAM: { Driver: "default"; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Containers: Record<string, { Name: string; IPv4Address: string; IPv6Address: string; Aliases: string[] }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** The default bridge's id: fixed, as it is the same network whenever it exists. */
const DEFAULT_ID = createHash("sha256").update("bunker0").digest("hex");

function shownUse(u: NetworkUse): Shown {
  const r = u.record;
  return {
    Name: r.name,
    Id: r.id,
    Created: r.created,
    Scope: "local",
    Driver: "bridge",
    EnableIPv6: r.subnet6 !== undefined,
    IPAM: { Driver: "default", Config: [{ Subnet: r.subnet, Gateway: r.gateway }, ...(r.subnet6 ? [{ Subnet: r.subnet6, Gateway: r.gateway6 ?? "" }] : [])] },
    Internal: r.internal,
    Containers: Object.fromEntries(
      u.leases.map((l) => [l.id, { Name: l.name ?? "", IPv4Address: `${l.ip}/${r.subnet.split("/")[1]}`, IPv6Address: l.ip6 && r.subnet6 ? `${l.ip6}/${r.subnet6.split("/")[1]}` : "", Aliases: l.aliases ?? [] }]),
    ),
    Options: { "com.docker.network.bridge.name": r.bridge },
    Labels: r.labels ?? {},
  };
}

/** The default bridge, when it exists (it is made by the first --network bridge container). */
function shownDefault(): Shown | null {
  const o = networkOverview();
  if (!o.bridge) return null;
  const prefix = o.bridge.subnet.split("/")[1];
  return {
    Name: "bridge",
    Id: DEFAULT_ID,
    Created: "",
    Scope: "local",
    Driver: "bridge",
    EnableIPv6: false,
    IPAM: { Driver: "default", Config: [{ Subnet: o.bridge.subnet, Gateway: o.bridge.gateway }] },
    Internal: false,
    Containers: Object.fromEntries(o.leases.map((l) => [l.id, { Name: l.name ?? "", IPv4Address: `${l.ip}/${prefix}`, IPv6Address: "", Aliases: [] }])),
    Options: { "com.docker.network.bridge.name": o.bridge.name },
    Labels: {},
  };
}

async function allShown(): Promise<Shown[]> {
  await reconcileNetwork();
  const d = shownDefault();
  return [...(d ? [d] : []), ...listNetworks().map(shownUse)];
}

/** The row `network ls` prints and its templates see. */
const row = (n: Shown) => ({
  ID: n.Id.slice(0, 12),
  Name: n.Name,
  Driver: n.Driver,
  Scope: n.Scope,
  Subnet: n.IPAM.Config.map((c) => c.Subnet).join(","),
  Gateway: n.IPAM.Config.map((c) => c.Gateway).join(","),
  Internal: String(n.Internal),
  IPv6: String(n.EnableIPv6),
  Containers: String(Object.keys(n.Containers).length),
  CreatedAt: n.Created,
  Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(","),
});

const ROW_FIELDS = ["ID", "Name", "Driver", "Scope", "Subnet", "Gateway", "Internal", "IPv6", "Containers", "CreatedAt", "Labels"];

/** --filter of ls and prune: name=PART, id=PREFIX, label=KEY[=VALUE], driver=bridge, type=custom|builtin. */
function networkFilter(filters: readonly string[]): (n: Shown) => boolean {
  const tests = filters.map((f) => {
    const m = /^(name|id|label|driver|type)=(.*)$/.exec(f);
    if (!m) throw new UsageError(`--filter ${f}: use name=, id=, label=, driver= or type=custom|builtin`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "name") return (n: Shown) => n.Name.includes(value);
    if (key === "id") return (n: Shown) => n.Id.startsWith(value);
    if (key === "driver") return (n: Shown) => n.Driver === value;
    if (key === "type") {
      if (value !== "custom" && value !== "builtin") throw new UsageError(`--filter ${f}: type is custom or builtin`);
      return (n: Shown) => (n.Name === "bridge") === (value === "builtin");
    }
    const eq = value.indexOf("=");
    return (n: Shown) => (eq < 0 ? value in n.Labels : n.Labels[value.slice(0, eq)] === value.slice(eq + 1));
  });
  return (n) => tests.every((t) => t(n));
}

/** --subnet and --gateway: at most one IPv4 and one IPv6 value, told apart by their form. */
function byFamily<K4 extends string, K6 extends string>(values: readonly string[], flag: string, v4: K4, v6: K6): Partial<Record<K4 | K6, string>> {
  const out: Partial<Record<K4 | K6, string>> = {};
  for (const v of values) {
    const key = v.includes(":") ? v6 : v4;
    if (out[key] !== undefined) throw new UsageError(`network create: ${flag} given twice for IPv${key === v6 ? 6 : 4}: ${out[key]} and ${v}`);
    out[key] = v;
  }
  return out;
}

async function create(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      subnet: { type: "string", multiple: true, valueHint: "CIDR", description: "The network's subnet (default: a free /24 in 10.90.0.0-10.127.255.0); an IPv6 one too with --ipv6" },
      gateway: { type: "string", multiple: true, valueHint: "IP", description: "The bridge's address in a subnet (default: the subnet's first)" },
      ipv6: { type: "boolean", description: "IPv6 too: an IPv6 --subnet, or a unique local /64 of the network's own" },
      internal: { type: "boolean", description: "No route out of the host, nothing published: containers reach only each other and the host" },
      label: { type: "string", multiple: true, valueHint: "KEY=VALUE", description: "A label of the network" },
      driver: { type: "string", alias: ["d"], valueHint: "bridge", description: "The network driver: bridge (the only one)" },
    },
    {
      name: "network create",
      description: "Make a network: a bridge of its own, where containers reach each other by name",
      positional: "NAME",
      examples: ["bunker network create web", "bunker network create --subnet 10.200.0.0/24 --internal backend", "bunker network create --ipv6 --subnet fd00:1::/64 dual"],
    },
  );
  if (!parsed) return 0;
  if (parsed.rest.length !== 1) throw new UsageError(`network create: give one name (got ${parsed.rest.length})`);
  const driver = parsed.values.driver as string | undefined;
  if (driver !== undefined && driver !== "bridge") throw new UsageError(`network create: driver "${driver}": bunker has only the bridge driver`);
  const labels = labelsOf(strings(parsed.values.label), "--label");
  const o = {
    name: parsed.rest[0]!,
    ...byFamily(strings(parsed.values.subnet), "--subnet", "subnet", "subnet6"),
    ...byFamily(strings(parsed.values.gateway), "--gateway", "gateway", "gateway6"),
    ...(parsed.values.ipv6 === true ? { ipv6: true } : {}),
    internal: parsed.values.internal === true,
    labels,
  };
  let r;
  if (isRoot()) r = createNetwork(o);
  else {
    try {
      r = await createRootless(o);
    } finally {
      releaseIfUnused();
    }
  }
  recordEvent("network", "create", r.id, { name: r.name, type: "bridge" });
  await writeOut(`${r.id}\n`);
  return 0;
}

async function ls(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      quiet: { type: "boolean", alias: ["q"], description: "Only the ids" },
      json: { type: "boolean", description: "JSON: what inspect shows of each" },
      format: { type: "string", valueHint: "json|TEMPLATE", description: "json: one JSON object a line; or a Go template ({{.Name}}, {{.ID}}, {{.Subnet}}, table ...)" },
      filter: { type: "string", multiple: true, alias: ["f"], valueHint: "KEY=VALUE", description: "name=PART, id=PREFIX, label=KEY[=VALUE], driver=bridge, type=custom|builtin (repeatable: all must hold)" },
      "no-trunc": { type: "boolean", description: "Whole ids" },
    },
    { name: "network ls", description: "List networks: the default bridge (once made) and those made by network create", positional: "", examples: ["bunker network ls", "bunker network ls --filter type=custom -q"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`network ls: unexpected argument "${parsed.rest[0]}"`);
  const nets = (await allShown()).filter(networkFilter(strings(parsed.values.filter)));
  const full = parsed.values["no-trunc"] === true;
  const rows = nets.map((n) => ({ ...row(n), ...(full ? { ID: n.Id } : {}) }));
  const format = parsed.values.format as string | undefined;
  if (parsed.values.json) await writeOut(`${jsonText(nets, 2)}\n`);
  else if (parsed.values.quiet) await writeOut(rows.map((r) => `${r.ID}\n`).join(""));
  else if (format === "json") await writeOut(rows.map((r) => `${jsonText(r)}\n`).join(""));
  else if (format !== undefined && format !== "table") {
    const table = format.startsWith("table");
    const t = compileTemplate(table ? format.slice(5).trimStart() : format, (path) => (path.length === 1 && ROW_FIELDS.includes(path[0]!) ? null : `a network has no field ${path.join(".")} (it has ${ROW_FIELDS.join(", ")})`));
    const lines = rows.map((r) => t.render(r));
    if (table) {
      const head = t.render(Object.fromEntries(ROW_FIELDS.map((k) => [k, k.toUpperCase()])));
      await writeOut(columns([head.split("\t"), ...lines.map((l) => l.split("\t"))]));
    } else await writeOut(lines.map((l) => `${l}\n`).join(""));
  } else {
    await writeOut(columns([["NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY", "CONTAINERS"], ...rows.map((r) => [r.ID, shown(r.Name), r.Driver, r.Subnet, r.Gateway, r.Containers])]));
  }
  return 0;
}

async function findShown(ref: string): Promise<Shown | null> {
  if (ref === "bridge" || ref === "bunker0") return shownDefault();
  await reconcileNetwork();
  const r = networkByRef(ref);
  return listNetworks().map(shownUse).find((n) => n.Id === r.id) ?? null;
}

async function inspect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    { format: { type: "string", alias: ["f"], valueHint: "TEMPLATE", description: "A Go template for each ({{.IPAM.Config}}, {{json .Containers}})" } },
    { name: "network inspect", description: "Show networks as JSON (docker's fields)", positional: "NETWORK...", examples: ["bunker network inspect web", "bunker network inspect -f '{{json .IPAM.Config}}' web"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("network inspect: no network given");
  const found: Shown[] = [];
  let failed = false;
  for (const ref of parsed.rest) {
    let n: Shown | null = null;
    try {
      n = await findShown(ref);
    } catch (e) {
      if (!(e instanceof BunkerError)) throw e;
    }
    if (n) found.push(n);
    else {
      failed = true;
      await writeErr(`bunker: network inspect ${ref}: no such network\n`);
    }
  }
  const format = parsed.values.format as string | undefined;
  if (format !== undefined) {
    const t = compileTemplate(format);
    await writeOut(found.map((n) => `${t.render(n)}\n`).join(""));
  } else await writeOut(`${jsonText(found, 4)}\n`);
  return failed ? 1 : 0;
}

let queue: Promise<unknown> = Promise.resolve();

async function rm(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    { force: { type: "boolean", alias: ["f"], description: "A network that does not exist is no error (one in use is still refused)" } },
    { name: "network rm", description: "Remove networks no container uses", positional: "NETWORK...", examples: ["bunker network rm web", "bunker network rm -f web backend"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("network rm: no network given");
  const force = parsed.values.force === true;
  const code = await forEach(
    parsed.rest,
    (ref) => ref,
    async (ref) => {
      if (ref === "bridge" || ref === "bunker0") throw new BunkerError(`network rm ${ref}: the default bridge is removed by bunker network prune once no container uses it`);
      if (force) {
        try {
          networkByRef(ref);
        } catch {
          return;
        }
      }
      // A user's removals one after another: each takes their rootless network namespace's lock, which blocks.
      let r;
      if (isRoot()) r = removeNetwork(ref);
      else {
        const next = queue.catch(() => undefined).then(() => removeRootless(ref));
        queue = next;
        r = await next;
      }
      recordEvent("network", "destroy", r.id, { name: r.name, type: "bridge" });
    },
  );
  if (!isRoot()) releaseIfUnused();
  return code;
}

async function prune(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      force: { type: "boolean", alias: ["f"], description: "Do not ask (bunker does not ask: accepted for scripts written for docker)" },
      filter: { type: "string", multiple: true, valueHint: "KEY=VALUE", description: "label=KEY[=VALUE], name=PART: only the networks that match" },
    },
    { name: "network prune", description: "Remove every network no container uses, and the default bridge and its NAT rules once no container uses them", positional: "", examples: ["bunker network prune", "bunker network prune --filter label=project=web"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`network prune: unexpected argument "${parsed.rest[0]}"`);
  const filters = strings(parsed.values.filter);
  const keep = networkFilter(filters);
  await reconcileNetwork();
  let out = "";
  let failed = false;
  for (const u of listNetworks()) {
    if (u.leases.length || !keep(shownUse(u))) continue;
    try {
      const r = isRoot() ? removeNetwork(u.record.name) : await removeRootless(u.record.name);
      recordEvent("network", "destroy", r.id, { name: r.name, type: "bridge" });
      out += `${r.name} removed\n`;
    } catch (e) {
      if (!(e instanceof BunkerError)) throw e;
      failed = true;
      await writeErr(`bunker: ${e.message}\n`);
    }
  }
  if (!isRoot()) releaseIfUnused();
  if (!filters.length && isRoot()) {
    const r = pruneNetwork();
    if (r.leases) out += `bunker0 kept: ${r.leases} container${r.leases === 1 ? "" : "s"} still use${r.leases === 1 ? "s" : ""} it\n`;
    else if (r.removed || !out) out += r.removed ? "bunker0 removed\n" : "no bridge to remove\n";
  }
  await writeOut(out);
  return failed ? 1 : 0;
}

async function connect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    {
      ip: { type: "string", valueHint: "IP", description: "The container's address on the network" },
      alias: { type: "string", multiple: true, valueHint: "NAME", description: "Another name the container answers to on the network" },
    },
    { name: "network connect", description: "Put a container on a network: now if it runs, else from its next start", positional: "NETWORK CONTAINER", examples: ["bunker network connect backend web", "bunker network connect --alias db backend pg"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length !== 2) throw new UsageError("network connect: give a network and a container");
  const [net, ref] = parsed.rest as [string, string];
  const ip = parsed.values.ip as string | undefined;
  await connectNetwork(net, ref, { ...(ip !== undefined ? { ip } : {}), aliases: strings(parsed.values.alias) });
  return 0;
}

async function disconnect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(
    argv,
    { force: { type: "boolean", alias: ["f"], description: "Accepted for scripts written for docker" } },
    { name: "network disconnect", description: "Take a container off a network: now if it runs, and for its later starts", positional: "NETWORK CONTAINER", examples: ["bunker network disconnect backend web"] },
  );
  if (!parsed) return 0;
  if (parsed.rest.length !== 2) throw new UsageError("network disconnect: give a network and a container");
  const [net, ref] = parsed.rest as [string, string];
  await disconnectNetwork(net, ref);
  return 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { create, ls, list: ls, inspect, rm, remove: rm, prune, connect, disconnect };

/** Options before the command (`network --json ls`) go after it, as the command takes them. */
function commandFirst(argv: readonly string[]): string[] {
  const at = argv.findIndex((a) => !a.startsWith("-"));
  if (at <= 0 || !Object.hasOwn(COMMANDS, argv[at]!) || argv.slice(0, at).some((a) => a === "--help" || a === "-h")) return [...argv];
  return [argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)];
}

export async function network(argv: string[]): Promise<number> {
  // `bunker network` alone lists, as it always has.
  const args = argv.length === 0 ? ["ls"] : commandFirst(argv);
  return runGroup(args, {
    name: "network",
    description:
      "Networks: the default bridge (bunker0, \"bridge\"), made by the first --network bridge container, and networks made by network create, where containers reach each other by name. run --network NAME puts a container on one",
    commands: COMMANDS,
    examples: ["bunker network create web", "bunker run -d --network web --name db postgres", "bunker run --rm --network web alpine ping -c1 db"],
  });
}

// bunker network ls | prune

import { columns, jsonText, shown, writeOut } from "../output";
import { networkOverview, pruneNetwork, reconcileNetwork } from "../runtime/network";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  json: { type: "boolean", description: "ls: JSON" },
};

export async function network(argv: string[]): Promise<number> {
  const help = {
    name: "network",
    description: "ls: the bridge, its subnet and its leases; prune: remove the bridge and its NAT rules once no container uses them",
    positional: "ls|prune",
    examples: ["bunker network ls", "bunker network ls --json", "bunker network prune"],
  };
  const parsed = await parseCommand(argv, options, help);
  if (!parsed) return 0;
  const [sub, ...after] = parsed.rest;
  // Options may follow the sub-command too, as the usage writes them: `network ls --json`.
  const more = await parseCommand(after, options, help);
  if (!more) return 0;
  if (more.rest.length) throw new UsageError(`network: unexpected argument "${more.rest[0]}"`);
  const json = parsed.values.json === true || more.values.json === true;
  if (sub === "prune") {
    const r = pruneNetwork();
    if (r.leases) {
      await writeOut(`bunker0 kept: ${r.leases} container${r.leases === 1 ? "" : "s"} still use${r.leases === 1 ? "s" : ""} it\n`);
    } else await writeOut(r.removed ? "bunker0 removed\n" : "no bridge to remove\n");
    return 0;
  }
  if (sub === "ls" || sub === undefined) {
    reconcileNetwork();
    const o = networkOverview();
    if (json) {
      await writeOut(`${jsonText(o, 2)}\n`);
      return 0;
    }
    if (!o.bridge) {
      await writeOut("no bridge: bunker0 is created by the first --network bridge container\n");
      return 0;
    }
    const rows = [["BRIDGE", "SUBNET", "GATEWAY", "NAT", "CONTAINERS"], [o.bridge.name, o.bridge.subnet, o.bridge.gateway, o.bridge.nat ? "yes" : "no", String(o.leases.length)].map((c) => shown(String(c)))];
    let text = columns(rows);
    for (const l of o.leases) text += `  ${shown(String(l.ip))}  ${shown(String(l.id))}\n`;
    await writeOut(text);
    return 0;
  }
  throw new UsageError(`network: unknown sub-command "${sub}": use ls or prune`);
}

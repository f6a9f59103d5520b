// bunker inspect ID|NAME...

import { writeOut } from "../output";
import { currentStatus, resolveContainer } from "../runtime/store";
import { parseOptions, UsageError, type OptionDefs } from "./options";
import { printUsage } from "./usage";

const options: OptionDefs = {};

export async function inspect(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, "inspect");
  if (parsed.help) {
    await printUsage("inspect", "Show containers' state as JSON", options, "ID|NAME...");
    return 0;
  }
  if (parsed.rest.length === 0) throw new UsageError("inspect: no container given");
  const out = parsed.rest.map((ref) => {
    const s = resolveContainer(ref);
    const status = currentStatus(s);
    return { ...s, status, ...(status !== "running" ? { pid: undefined, pidStart: undefined, namespaces: undefined } : {}) };
  });
  await writeOut(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

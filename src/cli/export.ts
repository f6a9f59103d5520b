// bunker export [-o FILE] CONTAINER

import { exportContainer } from "../runtime/export";
import { UsageError, type OptionDefs } from "../options";
import { withArchiveOutput } from "./archive-out";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  output: { type: "string", alias: ["o"], valueHint: "FILE", description: "Write to FILE instead of stdout" },
};

export async function exportCmd(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "export",
    description: "Write a container's root filesystem as a tar archive (its image's layers with its changes; not its volumes)",
    positional: "CONTAINER",
    examples: ["bunker export web > web.tar", "bunker export -o web.tar web"],
  });
  if (!parsed) return 0;
  const [ref, extra] = parsed.rest;
  if (ref === undefined) throw new UsageError("export: no container given");
  if (extra !== undefined) throw new UsageError(`export: unexpected argument "${extra}"`);
  await withArchiveOutput(parsed.values.output as string | undefined, `export ${ref}`, (fd) => exportContainer(ref, fd));
  return 0;
}

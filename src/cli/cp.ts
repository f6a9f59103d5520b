// bunker cp CONTAINER:SRC DEST|-   and   bunker cp SRC|- CONTAINER:DEST

import { UsageError, type OptionDefs } from "../options";
import { isTerminal, writeErr } from "../output";
import { copy, parseSide } from "../runtime/cp";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  archive: { type: "boolean", alias: ["a"], description: "Keep the source's owners (numeric UID and GID); without it files copied in belong to the container's root, files copied out to you" },
  "follow-link": { type: "boolean", alias: ["L"], description: "Follow a symbolic link named as SRC (copy what it points to)" },
  quiet: { type: "boolean", alias: ["q"], description: "Print nothing on success" },
};

/** docker's sizes: decimal units, three significant digits ("2.05kB"). */
function humanSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

export async function cp(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "cp",
    description: "Copy files and directories between a container and the host; '-' is a tar archive on stdin or stdout",
    positional: "CONTAINER:SRC DEST|-  |  SRC|- CONTAINER:DEST",
    examples: ["bunker cp web:/etc/nginx/nginx.conf ./nginx.conf", "bunker cp ./site/. web:/usr/share/nginx/html", "tar -c app | bunker cp - web:/srv"],
  });
  if (!parsed) return 0;
  const [srcArg, destArg, extra] = parsed.rest;
  if (srcArg === undefined || destArg === undefined) throw new UsageError("cp: give a source and a destination: CONTAINER:SRC DEST, or SRC CONTAINER:DEST");
  if (extra !== undefined) throw new UsageError(`cp: unexpected argument "${extra}"`);
  const src = parseSide(srcArg);
  const dest = parseSide(destArg);
  const inSrc = src !== "-" && "container" in src;
  const inDest = dest !== "-" && "container" in dest;
  if (inSrc && inDest) throw new UsageError("cp: copying between containers is not supported: copy to the host, then into the other");
  if (!inSrc && !inDest) throw new UsageError("cp: one of SRC and DEST must be a container path (CONTAINER:PATH)");
  if (dest === "-" && isTerminal(1)) throw new UsageError("cp: refusing to write an archive to a terminal: redirect the output");
  const bytes = await copy(src, dest, { archive: parsed.values.archive === true, follow: parsed.values["follow-link"] === true });
  // As docker: a line for a person at a terminal, none for a script or a stream.
  if (!parsed.values.quiet && dest !== "-" && isTerminal(2)) await writeErr(`Successfully copied ${humanSize(bytes)} to ${destArg}\n`);
  return 0;
}

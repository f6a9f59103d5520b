// bunker attach [--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER:
// the caller's terminal (or stdin and stdout) on a running detached
// container's, until it ends (then its exit status is this command's) or the
// detach keys leave it running.

import { BunkerError } from "../errors";
import { attachTo } from "../runtime/attach";
import { waitStopped } from "../runtime/lifecycle";
import { currentStatus, resolveContainer } from "../runtime/store";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../spec/detach-keys";
import { UsageError, type OptionDef, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

/** --detach-keys, as attach and start -a take it. */
export const DETACH_KEYS_OPTION: OptionDef = { type: "string", valueHint: "KEYS", description: `Keys that leave the container running (default ${DEFAULT_DETACH_KEYS})` };

const options: OptionDefs = {
  "no-stdin": { type: "boolean", description: "Do not pass your input to the container" },
  "sig-proxy": { type: "boolean", description: "Pass the signals bunker receives on to the container (default true; without a terminal)" },
  "detach-keys": DETACH_KEYS_OPTION,
};

export async function attach(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "attach",
    description: "Attach to a running detached container's terminal or output (and input, if it was run with -i)",
    positional: "ID|NAME",
    examples: ["bunker run -dit --name box --rootfs ./alpine -- sh && bunker attach box      # ctrl-p ctrl-q leaves it running", "bunker attach --no-stdin web"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length !== 1) throw new UsageError(parsed.rest.length ? `attach: one container at a time, not ${parsed.rest.length}` : "attach: no container given");
  const v = parsed.values;
  const keys = parseDetachKeys((v["detach-keys"] as string | undefined) ?? DEFAULT_DETACH_KEYS);
  return attachContainer(parsed.rest[0]!, { noStdin: v["no-stdin"] === true, sigProxy: v["sig-proxy"] !== false, keys });
}

/** Attaches to container `ref`; resolves to its exit status once it ends, or 0 when detached from. */
export async function attachContainer(ref: string, o: { noStdin: boolean; sigProxy: boolean; keys: number[] }, connected?: number): Promise<number> {
  const s = resolveContainer(ref);
  // Connected while it started (start -a), it may have ended already: its output waits on the connection.
  if (connected === undefined && currentStatus(s) !== "running") throw new BunkerError(`container ${ref} is not running: start it first`);
  if (s.paused) throw new BunkerError(`container ${ref} is paused: unpause it first`);
  // Input only to a container whose stdin is kept open (-i), as docker.
  const how = attachTo(s, { input: !o.noStdin && s.spec.bunker.stdin === true, detachKeys: o.keys, sigProxy: o.sigProxy }, connected);
  if (how === "detached") return 0;
  const end = await waitStopped(s.id, 10_000);
  return end?.status === "stopped" && end.exitCode !== undefined ? end.exitCode : 0;
}

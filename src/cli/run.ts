// bunker run [OPTIONS] [--] COMMAND [ARG...]

import { LOG_LEVELS, log, mark, setLogLevel, type LogLevel } from "../log";
import { createSpec } from "../spec/defaults";
import { absolute, fileType } from "../sys/fs";
import { SpecError, validateHostname, validateNetworkMode, validateSpec } from "../spec/validate";
import { BunkerError } from "../runtime/errors";
import { runContainer } from "../runtime/run";
import { parseOptions, UsageError, type OptionDefs } from "./options";
import { printUsage } from "./usage";

export const runOptions: OptionDefs = {
  rootfs: {
    type: "string",
    alias: ["root"],
    valueHint: "DIR",
    description: "Root filesystem to run in (default: the host's /, read-only, with private /tmp, /run, /dev, /proc)",
  },
  hostname: { type: "string", valueHint: "NAME", description: "Container hostname (default: the container id)" },
  network: { type: "string", alias: ["net"], valueHint: "MODE", description: "none (own namespace, lo up; default) or host" },
  "log-level": { type: "string", valueHint: "LEVEL", description: `Logging to stderr: ${LOG_LEVELS.join(", ")} (default warn)` },
};

const EXAMPLES = [
  "bunker run --rootfs ./alpine -- sh -c 'hostname; ps'",
  "bunker run --hostname box --rootfs ./alpine sh",
  "bunker run -- ls /      # the host's files, read-only, in a sandbox",
];

function checkRootfs(dir: string): { path: string; hasEtc: boolean } {
  const path = absolute(dir);
  let type;
  try {
    type = fileType(path, true);
  } catch (e) {
    throw new BunkerError(`rootfs ${dir}: ${(e as Error).message.replace(/^[^:]*: /, "").toLowerCase()}`);
  }
  if (type === null) throw new BunkerError(`rootfs ${dir}: no such file or directory`);
  if (type !== "dir") throw new BunkerError(`rootfs ${dir}: not a directory`);
  return { path, hasEtc: fileType(`${path}/etc`) === "dir" };
}

/** The caller's directory, unless the sandbox's private mounts hide it. */
async function sandboxCwd(): Promise<string> {
  const cwd = process.cwd();
  const hidden = ["/tmp", "/run", "/dev", "/proc", "/sys"].find((d) => cwd === d || cwd.startsWith(`${d}/`));
  if (!hidden) return cwd;
  await log.warn(`working directory ${cwd} is under the sandbox's private ${hidden}: starting in /`);
  return "/";
}

/** A short random id (12 hex digits, as docker shows them). */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, runOptions, "run");
  if (parsed.help) {
    await printUsage("run", "Run a command in a new container", runOptions, "[--] COMMAND [ARG...]", EXAMPLES);
    return 0;
  }
  const v = parsed.values;
  if (parsed.rest.length === 0) throw new UsageError("run: no command given: bunker run [OPTIONS] [--] COMMAND [ARG...]");
  const level = v["log-level"] as string | undefined;
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`unknown log level "${level}": use one of ${LOG_LEVELS.join(", ")}`);
    setLogLevel(level as LogLevel);
  }
  const network = (v.network as string | undefined) ?? "none";
  try {
    validateNetworkMode(network);
    if (v.hostname !== undefined) validateHostname(v.hostname as string);
  } catch (e) {
    if (e instanceof SpecError) throw new UsageError(e.message);
    throw e;
  }
  if (process.geteuid?.() !== 0) {
    throw new BunkerError("rootless mode is not available yet: run bunker as root (for example with sudo)");
  }
  const rootfs = v.rootfs !== undefined ? checkRootfs(v.rootfs as string) : undefined;
  const spec = createSpec({
    id: newId(),
    args: parsed.rest,
    rootfs: rootfs?.path,
    rootfsHasEtc: rootfs?.hasEtc,
    hostname: v.hostname as string | undefined,
    network,
    callerEnv: process.env,
    cwd: rootfs ? "/" : await sandboxCwd(),
  });
  try {
    validateSpec(spec);
  } catch (e) {
    if (e instanceof SpecError) throw new UsageError(e.message);
    throw e;
  }
  mark("spec");
  return runContainer(spec);
}

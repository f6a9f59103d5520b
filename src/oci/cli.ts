// The OCI front end: runc's command line, as containerd's shim, conmon and
// the other clients call it. Global flags come before the command; errors are
// one line on stderr and in the --log file, with runc's exit status 1.

import { setLogLevel, setLogSink, type LogLevel } from "../log";
import { BunkerError, isFailure } from "../errors";
import { HelpRequest } from "./parse";
import { writeErr, writeOut } from "../output";
import { resolve as absolute } from "node:path";
import { openLog } from "../logfile";
import type { OciGlobals } from "./route";


/** runc's status for every failure of its commands. */
export const EXIT_OCI = 1;


type OciCommand = (g: OciGlobals, argv: string[]) => Promise<number>;

export const COMMANDS: Record<string, () => Promise<OciCommand>> = {
  create: async () => (await import("./create")).create,
  run: async () => (await import("./create")).run,
  start: async () => (await import("./lifecycle")).start,
  exec: async () => (await import("./exec")).exec,
  ps: async () => (await import("./lifecycle")).ps,
  update: async () => (await import("./update")).update,
  state: async () => (await import("./lifecycle")).state,
  kill: async () => (await import("./lifecycle")).kill,
  delete: async () => (await import("./lifecycle")).remove,
  list: async () => (await import("./lifecycle")).list,
  pause: async () => (await import("./lifecycle")).pause,
  resume: async () => (await import("./lifecycle")).resume,
  spec: async () => (await import("./spec")).spec,
  features: async () => (await import("./features")).features,
};

export async function oci(g: OciGlobals, name: string, argv: string[]): Promise<number> {
  let logLine: ((level: LogLevel, msg: string) => void) | undefined;
  try {
    if (g.debug) setLogLevel("debug");
    if (g.log !== undefined) {
      logLine = openLog(g.log, g.logFormat);
      setLogSink(logLine);
    }
    if (g.root !== undefined) (await import("../runtime/state")).useStateDir(absolute(g.root));
    if (g.systemdCgroup) throw new BunkerError("--systemd-cgroup: bunker manages cgroups itself (cgroupfs); give cgroupsPath as a path, without --systemd-cgroup");
    const load = COMMANDS[name];
    if (!load) throw new BunkerError(`unknown command "${name}": runc's global flags came before it, and bunker's OCI commands are ${Object.keys(COMMANDS).join(", ")}`);
    const command = await load();
    return await command(g, argv);
  } catch (err) {
    if (err instanceof HelpRequest) {
      await writeOut(err.message);
      return 0;
    }
    const known = isFailure(err);
    const msg = known ? (err as Error).message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
    logLine?.("error", msg);
    await writeErr(`bunker: ${msg}\n`);
    return EXIT_OCI;
  }
}

// bunker create / bunker run (runc's): a container from a bundle. create
// leaves its process waiting before execve and returns; run starts it and,
// unless --detach, waits for it and removes it.

import { BunkerError } from "../errors";
import type { OptionDefs } from "../options";
import { runContainer, type OciCreate } from "../runtime/run";
import { findExact, isContainerId, newId } from "../runtime/store";
import { cgroupsPath } from "../runtime/cgroup";
import { startContainer } from "../runtime/start";
import { removeContainer } from "../runtime/remove";
import { writePidFile } from "../runtime/pidfile";
import { readState } from "../runtime/store";
import { parseProfile, ProfileError } from "../security/seccomp/profile";
import { validateSpec, SpecError } from "../spec/validate";
import { resolve as absolute } from "node:path";
import { bundleSpec } from "./bundle";
import { ConfigError } from "./config";
import { oneId, parseOci, preserveFds } from "./parse";
import type { OciGlobals } from "./route";
import { bundleHost, connectConsole, readConfig } from "../runtime/bundle-host";

const CREATE_OPTIONS: OptionDefs = {
  bundle: { type: "string", alias: ["b"], valueHint: "DIR", description: "The bundle directory (default: the current one)" },
  "pid-file": { type: "string", valueHint: "FILE", description: "Write the container process's pid there" },
  "console-socket": { type: "string", valueHint: "SOCK", description: "With process.terminal: send the pty's master to this AF_UNIX socket" },
  "no-pivot": { type: "boolean", description: "Accepted; bunker always pivots" },
  "no-new-keyring": { type: "boolean", description: "Accepted; bunker never makes a session keyring" },
  "preserve-fds": { type: "string", valueHint: "N", description: "Pass descriptors 3 to 3+N-1 to the process" },
};

const RUN_OPTIONS: OptionDefs = {
  ...CREATE_OPTIONS,
  detach: { type: "boolean", alias: ["d"], description: "Start it and return, as create + start" },
  keep: { type: "boolean", description: "Keep the container's state after it exits" },
};

/** runc's container ids: letters, digits and _ + - . (not starting with a separator). */
const OCI_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,254}$/;

function containerId(rest: string[], usage: string): string {
  const id = oneId(rest, usage);
  if (!OCI_ID.test(id)) throw new BunkerError(`invalid container id "${id}": letters, digits, _ + - . (starting with a letter or digit), at most 255`, 1);
  return id;
}

interface Prepared {
  ociId: string;
  spec: ReturnType<typeof bundleSpec>;
  bundle: string;
  annotations?: Record<string, string>;
}

/** Reads and checks the bundle: the spec to run, or an error naming the field. */
function prepare(values: Record<string, unknown>, ociId: string): Prepared {
  if (findExact(ociId)) throw new BunkerError(`container with id ${ociId} already exists`);
  const bundle = absolute((values.bundle as string | undefined) ?? ".");
  const config = readConfig(bundle);
  const host = bundleHost();
  const id = isContainerId(ociId) ? ociId : newId();
  let spec;
  try {
    spec = bundleSpec(config, { bundle, id, ...host });
    if (spec.oci.linux.cgroupsPath === undefined) spec.oci.linux.cgroupsPath = cgroupsPath(id);
    if (spec.oci.linux.seccomp !== undefined) spec.oci.linux.seccomp = parseProfile(JSON.stringify(spec.oci.linux.seccomp), "linux.seccomp");
    validateSpec(spec);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ProfileError || e instanceof SpecError) throw new BunkerError(`${bundle}/config.json: ${e.message}`);
    throw e;
  }
  return { ociId, spec, bundle, ...(spec.oci.annotations ? { annotations: spec.oci.annotations } : {}) };
}

async function createPrepared(p: Prepared, values: Record<string, unknown>): Promise<number> {
  const terminal = p.spec.oci.process.terminal === true;
  const socket = values["console-socket"] as string | undefined;
  if (terminal && socket === undefined) throw new BunkerError("process.terminal needs --console-socket: bunker does not stay to hold the terminal");
  if (!terminal && socket !== undefined) throw new BunkerError("--console-socket is given but process.terminal is false");
  const console = socket !== undefined ? connectConsole(socket) : undefined;
  const create: OciCreate = {
    ...(values["pid-file"] !== undefined ? { pidFile: values["pid-file"] as string } : {}),
    ...(console !== undefined ? { console: console.fd } : {}),
    preserveFds: preserveFds(values["preserve-fds"]),
  };
  try {
    return await runContainer(p.spec, {
      ...(isContainerId(p.ociId) ? {} : { name: p.ociId }),
      autoRemove: false,
      detached: true,
      oci: { bundle: p.bundle, ...(p.annotations ? { annotations: p.annotations } : {}), create },
    });
  } finally {
    console?.close();
  }
}

export async function create(_g: OciGlobals, argv: string[]): Promise<number> {
  const usage = "create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] [--preserve-fds N] ID";
  const parsed = parseOci(argv, CREATE_OPTIONS, usage);
  const p = prepare(parsed.values, containerId(parsed.rest, usage));
  return createPrepared(p, parsed.values);
}

export async function run(_g: OciGlobals, argv: string[]): Promise<number> {
  const usage = "run [--bundle DIR] [--pid-file FILE] [--detach] [--keep] [--console-socket SOCK] ID";
  const parsed = parseOci(argv, RUN_OPTIONS, usage);
  const v = parsed.values;
  const p = prepare(v, containerId(parsed.rest, usage));
  if (v.detach) {
    await createPrepared(p, v);
    const s = readState(p.spec.bunker.id);
    if (!s) throw new BunkerError(`container ${p.ociId} does not exist`);
    try {
      await startContainer(s);
    } catch (e) {
      // As runc: a run that could not start leaves no container.
      await removeContainer(s, true);
      throw e;
    }
    return 0;
  }
  if (v["console-socket"] !== undefined) throw new BunkerError("--console-socket is for run --detach (and create): in the foreground the terminal is bunker's own");
  if (p.spec.oci.hooks) throw new BunkerError("hooks run with create and start: use bunker create and start, or run --detach");
  if (v["preserve-fds"] !== undefined) throw new BunkerError("--preserve-fds is for create and run --detach");
  const pidFile = v["pid-file"] as string | undefined;
  return runContainer(p.spec, {
    ...(isContainerId(p.ociId) ? {} : { name: p.ociId }),
    autoRemove: v.keep !== true,
    detached: false,
    ...(p.spec.oci.process.terminal ? { tty: { interactive: true } } : {}),
    oci: { bundle: p.bundle, ...(p.annotations ? { annotations: p.annotations } : {}) },
    ...(pidFile !== undefined
      ? {
          onStarted: (err?: Error) => {
            const pid = err ? undefined : readState(p.spec.bunker.id)?.pid;
            if (pid !== undefined) writePidFile(pidFile, pid);
          },
        }
      : {}),
  });
}

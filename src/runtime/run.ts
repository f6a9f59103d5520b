// `bunker run` end to end: facts about the rootfs, the child program, clone,
// and supervision until the container's first process exits.

import { enabled, log, mark, markReport } from "../log";
import { writeIdMaps } from "../identity/maps";
import type { RootfsFacts } from "../rootfs/plan";
import type { ContainerSpec } from "../spec/types";
import { fileType, readText } from "../sys/fs";
import { exitCodeOf, waitFor } from "../sys/libc";
import { loadNative } from "../sys/native";
import { cloneFlags, planContainer } from "./plan";
import { closePipes, FORWARDED_SIGNALS, openPipes, spawnChild } from "./spawn";
import { scratchDir } from "./state";

export function hostsFile(hostname: string, base?: string): string {
  if (base !== undefined) {
    const lines = base.endsWith("\n") || base === "" ? base : `${base}\n`;
    return `${lines}127.0.1.1\t${hostname}\n`;
  }
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `127.0.1.1\t${hostname}`,
    "",
  ].join("\n");
}

function isRegularFile(path: string): boolean {
  try {
    return fileType(path) === "file";
  } catch {
    return false;
  }
}

export function rootfsFacts(spec: ContainerSpec): RootfsFacts {
  const etcFiles = new Map<string, string>();
  const hostname = spec.oci.hostname ?? spec.bunker.id;
  etcFiles.set("hostname", `${hostname}\n`);
  let base: string | undefined;
  if (spec.bunker.network === "host") {
    try {
      base = readText("/etc/hosts");
    } catch {
      base = undefined;
    }
  }
  etcFiles.set("hosts", hostsFile(hostname, base));
  return {
    etcFiles,
    etcTargetExists: (name) => isRegularFile(`/etc/${name}`),
    sourceIsDir: (path) => {
      try {
        return fileType(path, true) === "dir";
      } catch {
        return false;
      }
    },
  };
}

/** Runs the container in the foreground; resolves to its exit status. */
export async function runContainer(spec: ContainerSpec): Promise<number> {
  const pipes = openPipes();
  let started;
  try {
    const native = loadNative(scratchDir());
    mark("compile");
    const program = planContainer(spec, pipes, rootfsFacts(spec), [...native.nonDefaultSignals(), ...FORWARDED_SIGNALS]);
    mark("plan");
    if (enabled("debug")) {
      await log.debug(() => `child program:\n${program.listing().join("\n")}`);
      mark("log");
    }
    // The child waits on the sync pipe while its ID maps are written.
    started = await spawnChild(program, pipes, cloneFlags(spec), (pid) => writeIdMaps(pid, spec));
  } catch (err) {
    closePipes(pipes);
    throw err;
  }
  const status = waitFor(started.pid);
  // Once reaped, the pid can be reused: nothing more is sent to it.
  loadNative().forwardTo(-1);
  mark("exited");
  if (enabled("debug")) await log.debug(`timings: ${markReport()}`);
  return exitCodeOf(status);
}

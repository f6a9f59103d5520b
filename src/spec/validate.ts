// Checks on a container spec that need no system calls.

import type { ContainerSpec } from "./types";

export class SpecError extends Error {
  override name = "SpecError";
}

const NETWORK_MODES = ["none", "host"];

export function validateHostname(name: string): void {
  if (name.length === 0) throw new SpecError("invalid hostname: it is empty");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > 64) throw new SpecError(`invalid hostname "${name}": ${bytes} bytes, the kernel allows at most 64`);
  if (/[\s/\0-\x1f\x7f]/.test(name)) throw new SpecError(`invalid hostname ${JSON.stringify(name)}: no spaces, slashes or control characters`);
}

export function validateNetworkMode(mode: string): asserts mode is "none" | "host" {
  if (!NETWORK_MODES.includes(mode)) {
    throw new SpecError(`unknown network mode "${mode}": use one of ${NETWORK_MODES.join(", ")}`);
  }
}

export function validateSpec(spec: ContainerSpec): void {
  const { oci } = spec;
  if (oci.process.args.length === 0) throw new SpecError("no command given: bunker run [OPTIONS] [--] COMMAND [ARG...]");
  if (oci.process.args[0] === "") throw new SpecError("the command is an empty string");
  for (const a of oci.process.args) if (a.includes("\0")) throw new SpecError("a command argument contains a NUL byte");
  if (oci.hostname !== undefined) validateHostname(oci.hostname);
  if (!oci.process.cwd.startsWith("/")) throw new SpecError(`working directory "${oci.process.cwd}" must be absolute`);
  for (const m of oci.mounts) {
    if (!m.destination.startsWith("/")) throw new SpecError(`mount destination "${m.destination}" must be absolute`);
  }
}

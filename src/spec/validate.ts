// Checks on a container spec that need no system calls.

import type { ContainerSpec } from "./types";
import { BunkerError } from "../errors";

export class SpecError extends BunkerError {
  override name = "SpecError";
}

/** What --network accepts besides container:ID and ns:PATH; "private" is resolved before the spec. */
export const NETWORK_MODES = ["private", "none", "host", "bridge", "slirp4netns", "pasta"];

export function validateHostname(name: string): void {
  if (name.length === 0) throw new SpecError("invalid hostname: it is empty");
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > 64) throw new SpecError(`invalid hostname "${name}": ${bytes} bytes, the kernel allows at most 64`);
  if (/[\s/\0-\x1f\x7f]/.test(name)) throw new SpecError(`invalid hostname ${JSON.stringify(name)}: no spaces, slashes or control characters`);
}

/** What a network made by `network create` may be called (docker's rule); the modes are not names. */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
export const RESERVED_NETWORK_NAMES: readonly string[] = ["bridge", "host", "none", "private", "default", "pasta", "slirp4netns", "bunker0", "lock", "dns", "container", "ns"];
export const mayBeNetworkName = (name: string): boolean => NETWORK_NAME.test(name) && !RESERVED_NETWORK_NAMES.includes(name);

export function validateNetworkMode(mode: string): void {
  if (NETWORK_MODES.includes(mode)) return;
  // A network made by `network create`: whether it exists is asked later.
  if (mayBeNetworkName(mode)) return;
  if (/^container:.+/.test(mode) || /^ns:\/.+/.test(mode)) return;
  if (mode === "ns:") throw new SpecError(`network mode "${mode}": the namespace path is empty`);
  if (mode.startsWith("ns:")) throw new SpecError(`network mode "${mode}": the namespace path must be absolute`);
  throw new SpecError(`unknown network mode "${mode}": use one of ${NETWORK_MODES.join(", ")}, container:ID, ns:PATH or a network's name`);
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

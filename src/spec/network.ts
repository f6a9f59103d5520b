// --network MODE[:OPTION,...]: the options podman users know for user-mode
// networking. Reaching the host's loopback through the helper is off unless
// asked for, as podman's allow_host_loopback (slirp4netns) and --map-gw
// (pasta) are.

import { SpecError } from "./validate";

export interface NetworkArg {
  /** The mode without options (container:ID and ns:PATH whole). */
  mode: string;
  allowHostLoopback?: boolean;
}

const WITH_OPTIONS = ["slirp4netns", "pasta", "private"];

function flag(value: string, what: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new SpecError(`${what}: "${value}" is not true or false`);
}

export function parseNetworkArg(value: string): NetworkArg {
  const colon = value.indexOf(":");
  if (colon < 0 || value.startsWith("container:") || value.startsWith("ns:")) return { mode: value };
  const mode = value.slice(0, colon);
  if (!WITH_OPTIONS.includes(mode)) {
    if (["none", "host", "bridge"].includes(mode)) throw new SpecError(`--network ${mode} takes no options`);
    return { mode: value };
  }
  const out: NetworkArg = { mode };
  for (const opt of value.slice(colon + 1).split(",")) {
    const what = `--network ${value}`;
    const [key, v] = opt.includes("=") ? [opt.slice(0, opt.indexOf("=")), opt.slice(opt.indexOf("=") + 1)] : [opt, undefined];
    if (key === "allow_host_loopback") out.allowHostLoopback = v === undefined ? true : flag(v, what);
    // pasta's own spelling, which podman passes through: map the gateway address to the host's loopback, or not.
    else if (mode === "pasta" && (opt === "--map-gw" || opt === "--no-map-gw")) out.allowHostLoopback = opt === "--map-gw";
    else throw new SpecError(`${what}: unknown option "${opt}": ${mode} takes allow_host_loopback=true|false${mode === "pasta" ? " (or --map-gw)" : ""}`);
  }
  return out;
}

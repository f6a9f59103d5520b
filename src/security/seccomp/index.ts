// The filter a container gets, as bytes for the child program.

import type { ContainerSpec } from "../../spec/types";
import { hostArch } from "../../sys/syscalls";
import { encode } from "./bpf";
import { compile } from "./compile";
import { defaultProfile, type Profile } from "./profile";

/** The compiled filter and what to call it, or null for none. */
export function containerFilter(spec: ContainerSpec): { bytes: Uint8Array; what: string } | null {
  const mode = spec.bunker.seccomp ?? "default";
  if (mode === "unconfined") return null;
  const profile = mode === "custom" ? (spec.oci.linux.seccomp as Profile) : defaultProfile();
  const caps = spec.oci.process.capabilities?.bounding ?? [];
  return { bytes: encode(compile(profile, { arch: hostArch(), caps })), what: mode === "custom" ? "custom" : "default" };
}

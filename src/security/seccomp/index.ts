// The filter a container gets, as bytes for the child program. The default
// profile with the default capabilities is compiled when bunker is built
// (build.ts bakes it in), so a usual run loads neither the compiler nor the
// system call table; anything else is compiled here.

import { within } from "../../errors";
import type { ContainerSpec } from "../../spec/types";
import { hostArch, type Arch } from "../../sys/syscalls";
import { DEFAULT_CAPS } from "../caps";

declare const BUNKER_SECCOMP_DEFAULT: Record<string, string> | undefined;

/** The compiled default filter for `arch` with docker's default capabilities. */
export async function compileDefault(arch: Arch): Promise<Uint8Array> {
  const [{ encode }, { compile }, { defaultProfile }] = await Promise.all([import("./bpf"), import("./compile"), import("./profile")]);
  return encode(compile(defaultProfile(), { arch, caps: DEFAULT_CAPS.map((c) => `CAP_${c}`) }));
}

function sameCaps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

/** The compiled filter and what to call it, or null for none. */
export async function containerFilter(spec: ContainerSpec): Promise<{ bytes: Uint8Array; what: string; flags?: number } | null> {
  const mode = spec.bunker.seccomp ?? "default";
  if (mode === "unconfined") return null;
  const arch = hostArch();
  const caps = spec.oci.process.capabilities?.bounding ?? [];
  if (mode === "default" && typeof BUNKER_SECCOMP_DEFAULT === "object" && sameCaps(caps, DEFAULT_CAPS.map((c) => `CAP_${c}`))) {
    const baked = BUNKER_SECCOMP_DEFAULT[arch];
    // Native base64 decoding: a per-character callback over the ~5 KiB filter costs milliseconds.
    if (baked) return { bytes: new Uint8Array(Buffer.from(baked, "base64")), what: "default" };
  }
  const [{ encode }, { compile }, { defaultProfile }] = await Promise.all([import("./bpf"), import("./compile"), import("./profile")]);
  const profile = mode === "custom" ? (spec.oci.linux.seccomp as Parameters<typeof compile>[0]) : defaultProfile();
  try {
    return { bytes: encode(compile(profile, { arch, caps })), what: mode === "custom" ? "custom" : "default", ...(spec.bunker.seccompFlags ? { flags: spec.bunker.seccompFlags } : {}) };
  } catch (e) {
    throw within(e, "seccomp profile");
  }
}

// --init's PID 1, once the command runs: native/init.c, a static program of
// a few kilobytes carried in the executable and exec'd from a memory file
// inside the container. Without it (a build with no compiler for it,
// BUNKER_NATIVE=compile, a host that refuses executable memory files), init
// stays a copy of this process, as the child program made it.

import { memoryFile } from "../sys/memfd";
import { prebuiltNativeOff } from "../sys/native";

/** The build's init for this architecture, base64; absent or empty without one. */
declare const BUNKER_INIT: string | undefined;

/** A close-on-exec memory file holding the init program, or why there is none. */
export function initProgram(): { fd: number } | { unavailable: string } {
  if (prebuiltNativeOff()) return { unavailable: "BUNKER_NATIVE=compile" };
  if (typeof BUNKER_INIT !== "string" || BUNKER_INIT === "") return { unavailable: "this build carries no init program" };
  try {
    return { fd: memoryFile("bunker-init", "the init program", new Uint8Array(Buffer.from(BUNKER_INIT, "base64")), "exec") };
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
}

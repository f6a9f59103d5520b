// For a user with subordinate ID ranges, the store's files belong to IDs of
// those ranges, as a container sees them: a layer is unpacked, and what the
// user cannot remove as themself is removed, by bunker itself run in a user
// namespace mapped as the user's containers are (0 → the user, 1.. → their
// ranges): `bunker __userns unpack DIR` reading the layer on stdin, `bunker
// __userns rm PATH...`.

import { renameSync, rmSync } from "node:fs";
import { BunkerError } from "../errors";
import { resolveIdentity, type Identity } from "../identity/resolve";
import { writeIdMaps } from "../identity/maps";
import { ChildProgram } from "../child/program";
import { storeRoot, sweepStore, useTreeMover, useTreeRemover } from "../image/store";
import { fileType } from "../sys/fs";
import { unpackOptions, useUnpacker } from "../image/layers";
import { unpackLayer } from "../image/unpack";
import { archiveOf, writeArchive } from "../image/archive";
import { changesOf, type Change } from "../image/changes";
import type { ContainerSpec } from "../spec/types";
import { CLONE, O, SIG_SETMASK } from "../sys/constants";
import { closeFd, exitCodeOf, pipe, readUpTo, waitFor, writeAll } from "../sys/libc";
import { loadNative } from "../sys/native";
import { helperSide, type HelperRequest } from "./cp-side";
import { compiledBunker } from "./handoff";
import { planHandshake } from "./plan";
import { closePipes, openPipes, spawnChild } from "./spawn";
import { KERNEL_SIGSET_SIZE } from "../sys/layouts";

/** The mapping the user's containers get by default, when it spans more than their own ID. */
function rangesMapping(): NonNullable<Identity["userns"]> | undefined {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return undefined;
  try {
    const identity = resolveIdentity({ uid, gid: process.getegid?.() ?? 0, userns: "private", path: process.env.PATH ?? "" });
    return identity.userns?.setup.writer === "helpers" ? identity.userns : undefined;
  } catch {
    // no ranges to be had: the user's own ID only, no helper needed
    return undefined;
  }
}

/** The command line that runs bunker itself. */
function self(): { path: string; argv0: string[] } {
  return compiledBunker() ? { path: process.execPath, argv0: ["bunker"] } : { path: process.execPath, argv0: ["bun", Bun.main] };
}

let queue: Promise<unknown> = Promise.resolve();

/** How a helper process gets where it runs: the namespaces cloned for it, its first steps, and what bunker does meanwhile. */
export interface HelperPlace {
  /** The hidden sub-command it runs: bunker's side of the work there. */
  command: "__userns" | "__netns";
  cloneFlags: number;
  /** Its steps once bunker has released it, before it takes its stdio and execs. */
  enter(p: ChildProgram): void;
  /** While it waits on the sync pipe. */
  beforeStart?(pid: number): Promise<void> | void;
}

/**
 * One helper at a time: a child cloned while another helper's pipes are
 * open would hold their ends until it execs, and that helper would wait for
 * an end of input that never comes.
 */
export function runHelper(place: HelperPlace, args: string[], input?: AsyncIterable<Uint8Array>, out?: number, dir?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = queue.then(() => runHelperNow(place, args, input, out, dir));
  queue = run.catch(() => {});
  return run;
}

function inUserns(maps: NonNullable<Identity["userns"]>, args: string[], input?: AsyncIterable<Uint8Array>, out?: number, dir?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const spec = { oci: { linux: { uidMappings: maps.uid, gidMappings: maps.gid } }, bunker: { userns: maps.setup, setgroups: maps.setgroups } } as unknown as ContainerSpec;
  const place: HelperPlace = {
    command: "__userns",
    cloneFlags: CLONE.NEWUSER,
    // Root of the namespace, once bunker has written its maps.
    enter: (p) => {
      p.call("become group 0 in the user namespace", "setresgid", [0, 0, 0]);
      p.call("become user 0 in the user namespace", "setresuid", [0, 0, 0]);
    },
    beforeStart: (child) => writeIdMaps(child, spec),
  };
  return runHelper(place, args, input, out, dir);
}

/**
 * Runs `bunker COMMAND ARGS` where `place` puts it, with `input` on its
 * stdin; resolves to its exit status and what it wrote (its stdout goes to
 * the descriptor `out` instead when given).
 */
async function runHelperNow(place: HelperPlace, args: string[], input?: AsyncIterable<Uint8Array>, out?: number, dir?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const pipes = openPipes();
  const [inRead, inWrite] = pipe("create the helper's stdin", O.CLOEXEC);
  const [outRead, outWrite] = out === undefined ? pipe("create the helper's stdout", O.CLOEXEC) : [-1, out];
  const [errRead, errWrite] = pipe("create the helper's stderr", O.CLOEXEC);
  const ends = out === undefined ? [inRead, outWrite, errWrite] : [inRead, errWrite];
  const { path, argv0 } = self();
  const p = new ChildProgram();
  planHandshake(p, pipes);
  place.enter(p);
  p.call("take the helper's stdin", "dup3", [inRead, 0, 0]);
  // Bunker's own stdout needs no dup3 (which refuses a descriptor onto itself).
  if (outWrite !== 1) p.call("take the helper's stdout", "dup3", [outWrite, 1, 0]);
  p.call("take the helper's stderr", "dup3", [errWrite, 2, 0]);
  // A directory bunker opened that the helper could not (a running container's root, behind /proc's ptrace check): its descriptor 3, kept across execve.
  if (dir !== undefined) p.call("give the helper its directory as descriptor 3", "dup3", [dir, 3, 0]);
  // Cloned from a thread of bunker's, it has that thread's blocked signals: what it starts (aardvark-dns) would inherit them.
  p.call("unblock all signals", "rt_sigprocmask", [SIG_SETMASK, p.arena.alloc(KERNEL_SIGSET_SIZE).addr, 0, KERNEL_SIGSET_SIZE]);
  const argv = p.arena.strv([...argv0, place.command, ...args]);
  const envp = p.arena.strv(Object.entries(process.env).flatMap(([k, v]) => (v === undefined || `${k}${v}`.includes("\0") ? [] : [`${k}=${v}`])));
  p.call(`exec bunker ${place.command} ${args[0]}`, "execve", [p.str(path), argv, envp]);
  let pid: number;
  try {
    ({ pid } = await spawnChild(p, pipes, place.cloneFlags, (child) => place.beforeStart?.(child)));
  } catch (e) {
    closePipes(pipes);
    for (const fd of [...ends, inWrite, outRead, errRead]) if (fd >= 0) closeFd(fd);
    throw e;
  } finally {
    loadNative().forwardTo(-1);
  }
  for (const fd of ends) closeFd(fd);
  try {
    if (input) for await (const chunk of input) writeAll("write to the helper", inWrite, chunk);
  } catch (e) {
    // The helper went away (it failed, and says why below): its status and words are what matter.
    if (!(e instanceof BunkerError || (e as { errno?: number }).errno !== undefined)) throw e;
  } finally {
    closeFd(inWrite);
  }
  const stdout = outRead < 0 ? "" : new TextDecoder().decode(readUpTo("read the helper's output", outRead, 1 << 20));
  const stderr = new TextDecoder().decode(readUpTo("read the helper's errors", errRead, 1 << 16));
  if (outRead >= 0) closeFd(outRead);
  closeFd(errRead);
  const code = exitCodeOf(waitFor(pid));
  p.retain(null);
  return { code, stdout, stderr };
}

/** `bunker __userns ...`: the helper's side, run as root of the user's namespace. */
export async function usernsHelper(argv: string[]): Promise<number> {
  const [op, ...args] = argv;
  if (op === "unpack" && args.length === 1) {
    const warnings = await unpackLayer(Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>, args[0]!, { chown: true, devices: false, opaqueXattr: "user.overlay.opaque" });
    // What is left of stdin (the tar's padding) is read by the caller's hashing, not here.
    process.stdout.write(JSON.stringify(warnings));
    return 0;
  }
  if (op === "archive" && (args[0] === "merged" || args[0] === "layer") && args.length > 1) {
    writeArchive({ layers: args.slice(1), view: args[0] }, (b) => writeAll("write the archive", 1, b));
    return 0;
  }
  if (op === "diff" && args.length > 0) {
    process.stdout.write(JSON.stringify(changesOf(args[0]!, args.slice(1))));
    return 0;
  }
  if (op === "copy" && args.length > 2) {
    await unpackLayer(chunksOf(archiveOf({ layers: args.slice(2), view: "merged", under: args[1]! })), args[0]!, { chown: true, devices: false, opaqueXattr: "user.overlay.opaque" });
    return 0;
  }
  if (op === "cp" && args.length === 1) {
    await helperSide(JSON.parse(args[0]!) as HelperRequest);
    return 0;
  }
  if (op === "mv" && args.length === 2) {
    renameSync(args[0]!, args[1]!);
    return 0;
  }
  if (op === "rm") {
    for (const path of args) rmSync(path, { recursive: true, force: true });
    return 0;
  }
  throw new BunkerError(`__userns: unknown operation "${op}"`);
}

/**
 * For a user with subordinate ranges: layers are unpacked, and store trees
 * removed, through the helper. Nothing changes for root or a user without
 * ranges.
 */
let installed = false;

export function useRootlessStoreHelpers(): void {
  if (installed) return;
  installed = true;
  const maps = rangesMapping();
  if (!maps) return;
  useUnpacker(async (source, dir) => {
    const r = await inUserns(maps, ["unpack", dir], source);
    if (r.code !== 0) throw new BunkerError(r.stderr.trim().replace(/^bunker: /, "") || `the unpacking helper ended with status ${r.code}`);
    try {
      return JSON.parse(r.stdout) as string[];
    } catch {
      return [];
    }
  });
  useTreeRemover(async (path) => {
    const r = await inUserns(maps, ["rm", path]);
    if (r.code !== 0) throw new BunkerError(`remove ${path}: ${r.stderr.trim() || `status ${r.code}`}`);
  });
  useTreeMover(async (from, to) => {
    const r = await inUserns(maps, ["mv", from, to]);
    if (r.code !== 0) throw new BunkerError(`rename ${from} to ${to}: ${r.stderr.trim().replace(/^bunker: /, "") || `status ${r.code}`}`);
  });
}

/**
 * Writes the trees `layers` (bottom first) as a tar archive to the
 * descriptor `out`: through the helper for a user with ranges, whose files
 * only root of their user namespace may read, with the owners their
 * containers see; else by bunker itself, `owner` giving an entry's owner.
 */
export async function archiveTrees(layers: readonly string[], view: "merged" | "layer", out: number, owner?: (id: number, kind: "uid" | "gid") => number): Promise<void> {
  const maps = rangesMapping();
  if (!maps) {
    writeArchive({ layers, view, ...(owner ? { owner } : {}) }, (b) => writeAll("write the archive", out, b));
    return;
  }
  const r = await inUserns(maps, ["archive", view, ...layers], undefined, out);
  if (r.code !== 0) throw new BunkerError(r.stderr.trim().replace(/^bunker: /, "") || `the archiving helper ended with status ${r.code}`);
}

/** What a container changed: its upper directory against its layers (image/changes.ts), read through the helper for a user with ranges. */
export async function containerChanges(upper: string, lower: readonly string[]): Promise<Change[]> {
  const maps = rangesMapping();
  if (!maps) return changesOf(upper, lower);
  const r = await inUserns(maps, ["diff", upper, ...lower]);
  if (r.code !== 0) throw new BunkerError(r.stderr.trim().replace(/^bunker: /, "") || `the diff helper ended with status ${r.code}`);
  return JSON.parse(r.stdout) as Change[];
}

async function* chunksOf(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/**
 * Copies the merged view of `layers` (bottom first), or of its directory
 * `under`, into the directory `dest`: an image's root filesystem for the
 * copy driver, or what an image's volume starts with. Through the helper for
 * a user with ranges, so the copy keeps every file's owner.
 */
export async function copyTrees(layers: readonly string[], dest: string, under = "/"): Promise<void> {
  const maps = rangesMapping();
  if (!maps) {
    await unpackLayer(chunksOf(archiveOf({ layers, view: "merged", under })), dest, unpackOptions());
    return;
  }
  const r = await inUserns(maps, ["copy", dest, under, ...layers]);
  if (r.code !== 0) throw new BunkerError(r.stderr.trim().replace(/^bunker: /, "") || `the copying helper ended with status ${r.code}`);
}

/**
 * The container's end of a `bunker cp` (cp-side.ts), run as root of a user
 * namespace with the container's own mapping `maps`: `input` on its stdin,
 * its stdout to the descriptor `out`, the directory `dir` its descriptor 3.
 * Its failure is the copy's (status 1).
 */
export async function copyInUserns(maps: NonNullable<Identity["userns"]>, request: string, input?: AsyncIterable<Uint8Array>, out?: number, dir?: number): Promise<void> {
  const r = await inUserns(maps, ["cp", request], input, out, dir);
  if (r.code !== 0) throw new BunkerError(r.stderr.trim().replace(/^bunker: /, "") || `the copying helper ended with status ${r.code}`, r.code === 125 ? 125 : 1);
}

/** What removals left in the store's tmp, removed (through the helper for a user with ranges). */
export async function sweepLeftovers(): Promise<void> {
  const root = storeRoot();
  if (fileType(`${root}/tmp`) !== "dir") return;
  useRootlessStoreHelpers();
  await sweepStore(root);
}

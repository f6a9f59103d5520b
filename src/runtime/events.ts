// Events, as docker's daemon would report them: there is no daemon, so each
// bunker process that causes one appends it to events.log in its state
// directory (root's or the user's own), one JSON line in docker's shape,
// with one write(2) on an O_APPEND descriptor (concurrent writers never
// interleave: the kernel appends each write whole to a regular file). The
// log is rotated to events.log.1 at its cap, so the last 4 to 8 MiB are
// kept. An event that cannot be written never fails the command that caused
// it: it is logged at debug level and dropped.

import { log } from "../log";
import { jsonText } from "../output";
import { AT, CLOCK_REALTIME, O, LOCK } from "../sys/constants";
import { Errno, SysError } from "../sys/errno";
import { cstr, inodeOf, kindOf, statFd } from "../sys/fs";
import { closeFd, trySys } from "../sys/libc";
import { stateDir } from "./state";

export const EVENTS_NAME = "events.log";

/** What each file may grow to before it is rotated: with the rotated one, the last 4 to 8 MiB are kept. */
export const EVENTS_MAX = 4 << 20;

export const EVENT_TYPES = ["container", "image", "volume", "network"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A container's events (docker's names); a new one is a word here and a call where it happens. */
export const CONTAINER_ACTIONS = ["create", "start", "die", "stop", "kill", "pause", "unpause", "destroy", "rename", "oom", "exec_create", "exec_start", "exec_die", "restart", "attach", "detach", "health_status"] as const;
export type ContainerAction = (typeof CONTAINER_ACTIONS)[number];

export const IMAGE_ACTIONS = ["pull", "tag", "untag", "delete", "import", "load", "save"] as const;
export type ImageAction = (typeof IMAGE_ACTIONS)[number];

/** An event as docker's API gives it (timeNano kept exact: nanoseconds since the epoch do not fit a double). */
export interface EventRecord {
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: bigint;
}

/** The record as one line of JSON: docker's field order, timeNano as the integer it is. */
export function eventLine(e: EventRecord): string {
  return `${jsonText(e)}\n`;
}


/**
 * Now, in nanoseconds since the epoch, from the wall clock itself (a
 * supervisor lives for days: a time derived from its start would drift from
 * the clock other commands read).
 */
export function nowNanos(): bigint {
  const ts = new BigInt64Array(2);
  if (trySys("clock_gettime", CLOCK_REALTIME, ts) !== 0) return BigInt(Date.now()) * 1_000_000n;
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/**
 * Appends `line` to the events log in `dir`: only to a regular file of the
 * caller's own (a symlink, a FIFO or another's file planted there is
 * refused), in one write; past `max` bytes the file is renamed to
 * events.log.1 (replacing the older one) by whichever writer holds its lock.
 */
export function appendEvent(line: string, dir: string, max = EVENTS_MAX): void {
  const path = `${dir}/${EVENTS_NAME}`;
  const op = `append to ${path}`;
  const fd = trySys("openat", AT.FDCWD, cstr(path), O.WRONLY | O.APPEND | O.CREAT | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY | O.CLOEXEC, 0o600);
  if (fd < 0) throw new SysError(op, -fd);
  try {
    const st = statFd(fd, op);
    if (st.type !== "file") throw new Error(`${op}: it is ${kindOf(st.type)}, not a regular file`);
    if (st.uid !== (process.geteuid?.() ?? 0)) throw new Error(`${op}: it belongs to uid ${st.uid}`);
    const bytes = new TextEncoder().encode(line);
    const n = trySys("write", fd, bytes, bytes.length);
    if (n < 0) throw new SysError(op, -n);
    if (n !== bytes.length) throw new Error(`${op}: only ${n} of ${bytes.length} bytes written`);
    if (st.size + n > max) rotate(fd, path);
  } finally {
    closeFd(fd);
  }
}


/** Renames the full log away, once: another writer that rotated it first leaves a new file at the path. */
function rotate(fd: number, path: string): void {
  if (trySys("flock", fd, LOCK.EX | LOCK.NB) !== 0) return;
  if (inodeOf("", fd) !== inodeOf(path)) return;
  const r = trySys("renameat2", AT.FDCWD, cstr(path), AT.FDCWD, cstr(`${path}.1`), 0);
  if (r < 0 && r !== -Errno.ENOENT) throw new SysError(`rename ${path} to ${path}.1`, -r);
}

/** Records an event; never throws (an event is worth less than the command that caused it). */
export function recordEvent(type: EventType, action: string, actorId: string, attributes: Record<string, string>, legacy: { from?: string } = {}): void {
  const timeNano = nowNanos();
  // docker's older fields, which its API still gives for containers and images.
  const old = type === "container" || type === "image" ? { status: action, id: actorId, ...legacy } : {};
  // Sorted, as docker's (Go's) JSON gives a map.
  const sorted = Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const e: EventRecord = { ...old, Type: type, Action: action, Actor: { ID: actorId, Attributes: sorted }, scope: "local", time: Number(timeNano / 1_000_000_000n), timeNano };
  try {
    appendEvent(eventLine(e), stateDir());
  } catch (err) {
    void log.debug(`event ${type} ${action} ${actorId} not recorded: ${(err as Error).message}`);
  }
}

/** What an event needs of a container: its state, or what is left of it. */
export interface EventSubject {
  id: string;
  name?: string;
  oci?: unknown;
  spec?: { oci: { root: { path: string } }; bunker: { image?: { ref: string }; labels?: Record<string, string> } };
}

/**
 * A container's event, with docker's attributes: its labels, image (the
 * image it was run from, or its root filesystem's path) and name, then
 * `extra`. An OCI client's containers (podman's, containerd's) are that
 * client's to report: they make none.
 */
export function containerEvent(action: ContainerAction | `${ContainerAction}: ${string}`, s: EventSubject, extra: Record<string, string> = {}): void {
  if (s.oci !== undefined) return;
  const image = s.spec ? (s.spec.bunker.image?.ref ?? s.spec.oci.root.path) : undefined;
  const attributes: Record<string, string> = { ...(s.spec?.bunker.labels ?? {}) };
  if (image !== undefined) attributes.image = image;
  if (s.name !== undefined) attributes.name = s.name;
  recordEvent("container", action, s.id, { ...attributes, ...extra }, image !== undefined ? { from: image } : {});
}

/** An image's event: `actor` is its id or the name it was acted on by, `name` the name concerned. */
export function imageEvent(action: ImageAction, actor: string, name?: string): void {
  recordEvent("image", action, actor, name !== undefined ? { name } : {});
}

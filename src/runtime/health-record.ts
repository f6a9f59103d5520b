// A container's health as docker keeps it (State.Health): the status
// (starting, healthy, unhealthy), the failing streak and the last five
// results, in health.json beside its state; and docker's rules for the
// status a new result leaves.

import { healthTimings } from "../spec/health";
import type { HealthConfig } from "../spec/types";
import { fileType, readText, writeAtomic } from "../sys/fs";
import { containerDir, type ContainerState } from "./store";

export type HealthStatus = "starting" | "healthy" | "unhealthy";

/** One run of the check, as docker's inspect shows it. */
export interface HealthResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** docker's State.Health, and which start of the container it belongs to. */
export interface HealthRecord {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthResult[];
  /** The container's start time the status is of: a restart begins again at "starting". */
  started?: string;
}

/** The runs kept (docker's). */
const MAX_LOG = 5;
const HEALTH_FILE = "health.json";

const healthPath = (id: string) => `${containerDir(id)}/${HEALTH_FILE}`;

/** Records `h` as the container's health; the caller holds its lock. */
export function writeHealth(id: string, h: HealthRecord): void {
  writeAtomic(healthPath(id), `${JSON.stringify(h)}\n`);
}

/** The container's health (null without a check); "starting" until its first result of this start. */
export function readHealth(s: ContainerState): HealthRecord | null {
  if (!s.spec.bunker.healthcheck) return null;
  let rec: HealthRecord | null = null;
  try {
    if (fileType(healthPath(s.id)) === "file") rec = shaped(JSON.parse(readText(healthPath(s.id), 1 << 16)));
  } catch {
    // unreadable or damaged: as if no check had run yet
  }
  if (!rec) return { Status: "starting", FailingStreak: 0, Log: [] };
  if (rec.started !== s.started) return { Status: "starting", FailingStreak: 0, Log: rec.Log };
  return rec;
}

function shaped(v: unknown): HealthRecord | null {
  const r = v as HealthRecord;
  if (typeof r !== "object" || r === null || !["starting", "healthy", "unhealthy"].includes(r.Status)) return null;
  if (!Number.isSafeInteger(r.FailingStreak) || !Array.isArray(r.Log)) return null;
  const log = r.Log.filter((e) => typeof e === "object" && e !== null && typeof e.Start === "string" && typeof e.End === "string" && Number.isSafeInteger(e.ExitCode) && typeof e.Output === "string");
  return { Status: r.Status, FailingStreak: r.FailingStreak, Log: log.slice(-MAX_LOG), ...(typeof r.started === "string" ? { started: r.started } : {}) };
}

/** The status after `result`, by docker's rules: a failure in the start period, before any success, does not count. */
export function nextHealth(prev: HealthRecord, result: HealthResult, h: HealthConfig, started: string | undefined): HealthRecord {
  const t = healthTimings(h);
  const log = [...prev.Log, result].slice(-MAX_LOG);
  if (result.ExitCode === 0) return { Status: "healthy", FailingStreak: 0, Log: log };
  const inStartPeriod = prev.Status === "starting" && started !== undefined && (Date.parse(result.Start) - Date.parse(started)) * 1e6 < t.startPeriod;
  if (inStartPeriod) return { ...prev, Log: log };
  const streak = prev.FailingStreak + 1;
  return { Status: streak >= t.retries ? "unhealthy" : prev.Status, FailingStreak: streak, Log: log };
}

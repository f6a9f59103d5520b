// A container's health check: run's --health-* flags and an image's
// HEALTHCHECK (its config's Healthcheck), merged as docker merges them (a
// flag wins, each value the flags leave unset comes from the image), and the
// timings the check then runs with.

import type { HealthConfig } from "./types";
import { durationNanos } from "./duration";
import { SpecError } from "./validate";

export type { HealthConfig };

/** An image config's Healthcheck (image-spec, docker's): durations in nanoseconds, 0 for the default. */
export interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** What run's flags say: --no-healthcheck, or the --health-* flags given. */
export type HealthFlags = { none: true } | { none?: false; cmd?: string; interval?: number; timeout?: number; startPeriod?: number; startInterval?: number; retries?: number };

/** docker's defaults for what neither the flags nor the image set. */
export const HEALTH_DEFAULTS = { interval: 30_000_000_000, timeout: 30_000_000_000, startPeriod: 0, startInterval: 5_000_000_000, retries: 3 };

const MS = 1_000_000;

/** A --health-* duration: 0, or at least 1 ms (docker's floor). */
function durationFlag(value: string, flag: string): number {
  const ns = durationNanos(value);
  if (ns === null) throw new SpecError(`${flag} ${value}: not a duration (use 30s, 1m30s, 500ms)`);
  if (ns !== 0n && ns < BigInt(MS)) throw new SpecError(`${flag} ${value}: at least 1ms (or 0 for the default)`);
  return Number(ns);
}

/** run's --health-cmd, --health-interval, --health-timeout, --health-start-period, --health-start-interval, --health-retries and --no-healthcheck. */
export function parseHealthFlags(v: Record<string, unknown>): HealthFlags | undefined {
  const given = (["health-cmd", "health-interval", "health-timeout", "health-start-period", "health-start-interval", "health-retries"] as const).filter((k) => v[k] !== undefined);
  if (v["no-healthcheck"] === true) {
    if (given.length) throw new SpecError(`--no-healthcheck conflicts with --${given[0]}`);
    return { none: true };
  }
  if (!given.length) return undefined;
  const out: HealthFlags = {};
  const cmd = v["health-cmd"] as string | undefined;
  if (cmd !== undefined) {
    if (cmd.trim() === "") throw new SpecError("--health-cmd: the command is empty");
    out.cmd = cmd;
  }
  const durations = { interval: "health-interval", timeout: "health-timeout", startPeriod: "health-start-period", startInterval: "health-start-interval" } as const;
  for (const [key, flag] of Object.entries(durations) as [keyof typeof durations, string][]) {
    const text = v[flag] as string | undefined;
    if (text !== undefined) out[key] = durationFlag(text, `--${flag}`);
  }
  const retries = v["health-retries"] as string | undefined;
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries) || Number(retries) > 2 ** 31 - 1) throw new SpecError(`--health-retries ${retries}: a whole number, 0 or more (0: the default, 3)`);
    out.retries = Number(retries);
  }
  return out;
}

const nanos = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);

/**
 * The check a container runs: the flags' over the image's, or none (no
 * check anywhere, --no-healthcheck, an image's NONE, or a kind of test docker
 * does not know, which docker skips too).
 */
export function mergeHealthcheck(flags: HealthFlags | undefined, image: unknown): HealthConfig | undefined {
  if (flags?.none) return undefined;
  const img: ImageHealthcheck = typeof image === "object" && image !== null ? (image as ImageHealthcheck) : {};
  const imageTest = Array.isArray(img.Test) && img.Test.every((t) => typeof t === "string") ? img.Test : [];
  const test = flags?.cmd !== undefined ? ["CMD-SHELL", flags.cmd] : imageTest;
  const kind = test[0];
  const usable = (kind === "CMD" && test.length > 1) || (kind === "CMD-SHELL" && test.length === 2);
  if (!usable) {
    if (flags && kind !== "NONE") throw new SpecError("--health-*: there is no health check to set (give --health-cmd; the image has none)");
    return undefined;
  }
  const pick = (flag: number | undefined, imageValue: unknown) => (flag !== undefined && flag !== 0 ? flag : nanos(imageValue));
  const out = {
    test,
    interval: pick(flags?.interval, img.Interval),
    timeout: pick(flags?.timeout, img.Timeout),
    startPeriod: pick(flags?.startPeriod, img.StartPeriod),
    startInterval: pick(flags?.startInterval, img.StartInterval),
    retries: pick(flags?.retries, img.Retries),
  };
  // docker's floor holds for an image's values too: a check every few nanoseconds would keep a CPU busy.
  for (const key of ["interval", "timeout", "startPeriod", "startInterval"] as const) {
    if (out[key] > 0 && out[key] < MS) throw new SpecError(`the image's HEALTHCHECK: its ${key} (${out[key]}ns) is under 1ms: override it with --health-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  return out;
}

/** The timings a check runs with: its own, docker's defaults for what it leaves at 0. */
export function healthTimings(h: HealthConfig): typeof HEALTH_DEFAULTS {
  const or = (v: number, d: number) => (v > 0 ? v : d);
  return {
    interval: or(h.interval, HEALTH_DEFAULTS.interval),
    timeout: or(h.timeout, HEALTH_DEFAULTS.timeout),
    startPeriod: or(h.startPeriod, HEALTH_DEFAULTS.startPeriod),
    startInterval: or(h.startInterval, HEALTH_DEFAULTS.startInterval),
    retries: or(h.retries, HEALTH_DEFAULTS.retries),
  };
}

/** The command the check runs: CMD's as it is, CMD-SHELL's through /bin/sh -c (docker's shell). */
export function healthCommand(h: HealthConfig): string[] {
  return h.test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", h.test[1]!] : h.test.slice(1);
}

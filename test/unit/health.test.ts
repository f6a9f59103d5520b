// Health checks without a container: run's --health-* flags, an image's
// HEALTHCHECK under them (docker's merge), Go's durations, and the status a
// result leaves (docker's rules).

import { describe, expect, test } from "bun:test";
import { healthCommand, healthTimings, mergeHealthcheck, parseHealthFlags } from "../../src/spec/health";
import { durationNanos, formatDuration } from "../../src/spec/duration";
import { nextHealth, type HealthRecord } from "../../src/runtime/health-record";

const S = 1_000_000_000;

describe("durations", () => {
  test("Go's forms in nanoseconds; anything else is not one", () => {
    expect(durationNanos("30s")).toBe(30_000_000_000n);
    expect(durationNanos("1m30s")).toBe(90_000_000_000n);
    expect(durationNanos("1.5h")).toBe(5_400_000_000_000n);
    expect(durationNanos("250ms")).toBe(250_000_000n);
    expect(durationNanos("0")).toBe(0n);
    for (const bad of ["10", "", "s", "1x", "-1s", "1s "]) expect([bad, durationNanos(bad)]).toEqual([bad, null]);
  });

  test("printed as Go prints a time.Duration", () => {
    expect([0, 500_000_000, 30 * S, 90 * S, 1.5 * S, 3600 * S, 3723 * S].map(formatDuration)).toEqual(["0s", "500ms", "30s", "1m30s", "1.5s", "1h0m0s", "1h2m3s"]);
  });
});

describe("run's health flags and an image's HEALTHCHECK", () => {
  const image = { Test: ["CMD", "/bin/check", "--quick"], Interval: 10 * S, Timeout: 2 * S, StartPeriod: 5 * S, StartInterval: S, Retries: 7 };

  test("the image's check as it is, without flags", () => {
    expect(mergeHealthcheck(undefined, image)).toEqual({ test: ["CMD", "/bin/check", "--quick"], interval: 10 * S, timeout: 2 * S, startPeriod: 5 * S, startInterval: S, retries: 7 });
    expect(healthCommand(mergeHealthcheck(undefined, image)!)).toEqual(["/bin/check", "--quick"]);
  });

  test("each flag given wins; what the flags leave unset is the image's", () => {
    const f = parseHealthFlags({ "health-cmd": "curl -f localhost", "health-retries": "2" });
    const h = mergeHealthcheck(f, image)!;
    expect(h).toEqual({ test: ["CMD-SHELL", "curl -f localhost"], interval: 10 * S, timeout: 2 * S, startPeriod: 5 * S, startInterval: S, retries: 2 });
    expect(healthCommand(h)).toEqual(["/bin/sh", "-c", "curl -f localhost"]);
    // A timing flag alone keeps the image's command.
    expect(mergeHealthcheck(parseHealthFlags({ "health-interval": "1m" }), image)).toMatchObject({ test: image.Test, interval: 60 * S, retries: 7 });
  });

  test("no check: --no-healthcheck, an image's NONE, a kind of test docker does not know, none anywhere", () => {
    expect(mergeHealthcheck(parseHealthFlags({ "no-healthcheck": true }), image)).toBeUndefined();
    expect(mergeHealthcheck(undefined, { Test: ["NONE"] })).toBeUndefined();
    expect(mergeHealthcheck(undefined, { Test: ["HTTP", "/"] })).toBeUndefined();
    expect(mergeHealthcheck(undefined, undefined)).toBeUndefined();
    expect(parseHealthFlags({})).toBeUndefined();
    // Timing flags over an image's NONE: nothing to time, and nothing to complain of.
    expect(mergeHealthcheck(parseHealthFlags({ "health-interval": "1s" }), { Test: ["NONE"] })).toBeUndefined();
  });

  test("docker's defaults fill what neither sets", () => {
    expect(healthTimings(mergeHealthcheck(parseHealthFlags({ "health-cmd": "true" }), undefined)!)).toEqual({ interval: 30 * S, timeout: 30 * S, startPeriod: 0, startInterval: 5 * S, retries: 3 });
  });

  test("bad flags say which and why", () => {
    const fails = (v: Record<string, unknown>) => {
      try {
        mergeHealthcheck(parseHealthFlags(v), undefined);
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(fails({ "health-interval": "5" })).toBe("--health-interval 5: not a duration (use 30s, 1m30s, 500ms)");
    expect(fails({ "health-start-period": "500us" })).toBe("--health-start-period 500us: at least 1ms (or 0 for the default)");
    expect(fails({ "health-retries": "two" })).toBe("--health-retries two: a whole number, 0 or more (0: the default, 3)");
    expect(fails({ "health-cmd": "  " })).toBe("--health-cmd: the command is empty");
    expect(fails({ "no-healthcheck": true, "health-retries": "1" })).toBe("--no-healthcheck conflicts with --health-retries");
    expect(fails({ "health-timeout": "3s" })).toBe("--health-*: there is no health check to set (give --health-cmd; the image has none)");
    // An image's values meet the same floor; a flag can set it right.
    expect(() => mergeHealthcheck(undefined, { Test: ["CMD", "true"], Interval: 1000 })).toThrow("the image's HEALTHCHECK: its interval (1000ns) is under 1ms: override it with --health-interval");
    expect(mergeHealthcheck(parseHealthFlags({ "health-interval": "1s" }), { Test: ["CMD", "true"], Interval: 1000 })).toMatchObject({ interval: S });
  });
});

describe("the status a result leaves", () => {
  const h = mergeHealthcheck(parseHealthFlags({ "health-cmd": "x", "health-retries": "2", "health-start-period": "10s" }), undefined)!;
  const started = "2026-01-01T00:00:00.000Z";
  const at = (sec: number, code: number) => ({ Start: new Date(Date.parse(started) + sec * 1000).toISOString(), End: new Date(Date.parse(started) + sec * 1000 + 5).toISOString(), ExitCode: code, Output: "" });
  const fresh: HealthRecord = { Status: "starting", FailingStreak: 0, Log: [] };

  test("failures in the start period do not count; after it, retries of them make it unhealthy; a pass resets", () => {
    let r = nextHealth(fresh, at(1, 1), h, started);
    expect([r.Status, r.FailingStreak, r.Log.length]).toEqual(["starting", 0, 1]);
    r = nextHealth(r, at(11, 1), h, started);
    expect([r.Status, r.FailingStreak]).toEqual(["starting", 1]);
    r = nextHealth(r, at(12, 1), h, started);
    expect([r.Status, r.FailingStreak]).toEqual(["unhealthy", 2]);
    r = nextHealth(r, at(13, 0), h, started);
    expect([r.Status, r.FailingStreak]).toEqual(["healthy", 0]);
  });

  test("once healthy, the start period is over: a failure in it counts", () => {
    let r = nextHealth(fresh, at(1, 0), h, started);
    r = nextHealth(r, at(2, 1), h, started);
    expect([r.Status, r.FailingStreak]).toEqual(["healthy", 1]);
    r = nextHealth(r, at(3, 1), h, started);
    expect([r.Status, r.FailingStreak]).toEqual(["unhealthy", 2]);
  });

  test("the last five results, oldest first", () => {
    let r = fresh;
    for (let i = 0; i < 8; i++) r = nextHealth(r, at(20 + i, i), h, started);
    expect(r.Log.map((l) => l.ExitCode)).toEqual([3, 4, 5, 6, 7]);
  });
});

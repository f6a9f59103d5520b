// Log settings, log times and log records: the pure parts of `bunker logs`
// and of a detached container's log.

import { describe, expect, test } from "bun:test";
import { parseLogging } from "../../src/spec/logging";
import { parseLogTime } from "../../src/cli/logs";
import { parseRecords, timeNanos } from "../../src/runtime/log-reader";
import { logRecord, logTime } from "../../src/runtime/log-writer";

describe("--log-driver and --log-opt", () => {
  test("json-file by default, three files of 10 MiB; options as docker spells them", () => {
    expect(parseLogging(undefined, [])).toEqual({ driver: "json-file", maxSize: 10485760, maxFiles: 3 });
    expect(parseLogging("json-file", ["max-size=1m", "max-file=5"])).toEqual({ driver: "json-file", maxSize: 1048576, maxFiles: 5 });
    expect(parseLogging(undefined, ["max-size=-1", "max-file=1"])).toEqual({ driver: "json-file", maxSize: 0, maxFiles: 1 });
    expect(parseLogging("none", []).driver).toBe("none");
    expect(() => parseLogging("journald", [])).toThrow("--log-driver journald: use json-file or none");
    expect(() => parseLogging(undefined, ["max-file=0"])).toThrow("--log-opt max-file=0: a number from 1 to 1000");
    expect(() => parseLogging(undefined, ["max-size=lots"])).toThrow('--log-opt max-size "lots": not a size');
  });
});

describe("log times", () => {
  const now = 1_800_000_000_000_000_000n;
  test("--since and --until: RFC 3339, Unix seconds, or a duration before now", () => {
    expect(parseLogTime("2027-01-15T08:00:00Z", "--since")).toBe(BigInt(Date.parse("2027-01-15T08:00:00Z")) * 1_000_000n);
    expect(parseLogTime("2027-01-15T08:00:00.5+01:00", "--since")).toBe(BigInt(Date.parse("2027-01-15T07:00:00Z")) * 1_000_000n + 500_000_000n);
    expect(parseLogTime("2027-01-15", "--since")).toBe(BigInt(Date.parse("2027-01-15T00:00:00Z")) * 1_000_000n);
    expect(parseLogTime("1700000000.25", "--since")).toBe(1_700_000_000_250_000_000n);
    expect(parseLogTime("1h30m", "--since", now)).toBe(now - 5_400_000_000_000n);
    expect(parseLogTime("500ms", "--until", now)).toBe(now - 500_000_000n);
    expect(() => parseLogTime("soon", "--until")).toThrow("--until soon: not a time");
  });

  test("a record's time has nanoseconds and sorts as it was written", () => {
    // Below a millisecond as far as a double holds it (bunker's own writer; the waiter's clock gives nanoseconds).
    const t = logTime(Date.parse("2026-11-30T06:00:00.123Z") + 0.5);
    expect(t).toBe("2026-11-30T06:00:00.123500000Z");
    expect(timeNanos("2026-11-30T06:00:00.123456789Z")).toBe(BigInt(Date.parse("2026-11-30T06:00:00Z")) * 1_000_000n + 123_456_789n);
    expect(timeNanos("2026-11-30T06:00:00Z") < timeNanos(t)).toBe(true);
    expect(timeNanos("not a time")).toBe(-1n);
  });
});

describe("log records", () => {
  test("docker's json-file lines, read back; a line a killed writer cut short is skipped", () => {
    const text = logRecord('a "quoted"\tline\n', "stdout", "2026-11-30T06:00:00.000000001Z") + logRecord("err", "stderr", "2026-11-30T06:00:01.000000000Z") + '{"log":"cut';
    expect(text.split("\n")[0]).toBe('{"log":"a \\"quoted\\"\\tline\\n","stream":"stdout","time":"2026-11-30T06:00:00.000000001Z"}');
    expect(parseRecords(text)).toEqual([
      { log: 'a "quoted"\tline\n', stream: "stdout", time: "2026-11-30T06:00:00.000000001Z" },
      { log: "err", stream: "stderr", time: "2026-11-30T06:00:01.000000000Z" },
    ]);
  });
});

// The events log on its own, in a directory of the test's: rotation at the
// cap, a follower that goes on across a rotation without losing or
// repeating a line, and the --format templates.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appendEvent, eventLine, type EventRecord } from "../../src/runtime/events";
import { followEvents } from "../../src/runtime/event-reader";
import { compileTemplate } from "../../src/cli/template";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "bunker-events-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const event = (n: number): EventRecord => ({
  status: "start",
  id: `c${n}`,
  Type: "container",
  Action: "start",
  Actor: { ID: `c${n}`, Attributes: { name: `n${n}` } },
  scope: "local",
  time: 1_796_000_000 + n,
  timeNano: 1_796_000_000_000_000_000n + BigInt(n),
});

/** Every event of the log, with history, up to now. */
async function readAll(): Promise<string[]> {
  const seen: string[] = [];
  await followEvents(dir, { history: true, until: 0n, show: async (b) => void seen.push(...b.map((e) => e.Actor.ID)) });
  return seen;
}

describe("the events log", () => {
  test("a line is docker's JSON with timeNano exact", () => {
    expect(eventLine(event(7))).toBe(
      '{"status":"start","id":"c7","Type":"container","Action":"start","Actor":{"ID":"c7","Attributes":{"name":"n7"}},"scope":"local","time":1796000007,"timeNano":1796000000000000007}\n',
    );
  });

  test("rotated past its cap into events.log.1; what both hold is read in order, the oldest rotated away", async () => {
    const max = 2000;
    const size = eventLine(event(10)).length;
    for (let n = 10; n < 60; n++) appendEvent(eventLine(event(n)), dir, max);
    expect(existsSync(join(dir, "events.log.1"))).toBe(true);
    expect(statSync(join(dir, "events.log")).size).toBeLessThanOrEqual(max + size);
    expect(statSync(join(dir, "events.log.1")).size).toBeGreaterThan(max);
    expect(statSync(join(dir, "events.log")).mode & 0o777).toBe(0o600);
    const seen = await readAll();
    // The newest, without a gap or a repeat, up to the last one written.
    expect(seen.at(-1)).toBe("c59");
    const first = Number(seen[0]!.slice(1));
    expect(first).toBeGreaterThan(10);
    expect(seen).toEqual(Array.from({ length: 60 - first }, (_, i) => `c${first + i}`));
    // Each file holds whole lines.
    for (const f of ["events.log", "events.log.1"]) expect(readFileSync(join(dir, f), "utf8").endsWith("\n")).toBe(true);
  });

  test("a follower goes on across rotations: every line once, in order, until its window ends", async () => {
    appendEvent(eventLine(event(0)), dir, 1500);
    const seen: string[] = [];
    const end = BigInt(Date.now() + 1500) * 1_000_000n;
    const following = followEvents(dir, { history: false, until: end, show: async (b) => void seen.push(...b.map((e) => e.Actor.ID)) });
    // Lines come in bursts, each rotating the log at least once.
    for (let n = 1; n <= 40; n++) {
      appendEvent(eventLine(event(n)), dir, 1500);
      if (n % 8 === 0) await Bun.sleep(30);
    }
    await following;
    expect(BigInt(Date.now()) * 1_000_000n >= end).toBe(true);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `c${i + 1}`));
  });
});

describe("--format templates", () => {
  const value = { Status: "die", Actor: { ID: "abc", Attributes: { name: "web", exitCode: "0" } }, TimeNano: 1796000000000000007n };

  test("fields, maps, json, index, upper and lower, tabs and newlines", () => {
    expect(compileTemplate("{{.Status}} {{.Actor.Attributes.name}}\\t{{.Actor.ID}}").render(value)).toBe("die web\tabc");
    expect(compileTemplate("{{json .Actor}}").render(value)).toBe('{"ID":"abc","Attributes":{"name":"web","exitCode":"0"}}');
    expect(compileTemplate('{{index .Actor.Attributes "exitCode"}}|{{upper .Status}}|{{lower "ABC"}}').render(value)).toBe("0|DIE|abc");
    expect(compileTemplate("{{.Actor.Attributes}}").render(value)).toBe("map[exitCode:0 name:web]");
    expect(compileTemplate("{{.TimeNano}} {{json .TimeNano}}").render(value)).toBe("1796000000000000007 1796000000000000007");
    expect(compileTemplate("{{.Actor.Attributes.missing}}").render(value)).toBe("<no value>");
  });

  test("what it cannot do is refused when read", () => {
    expect(() => compileTemplate("{{.Status")).toThrow('--format: "{{" without its "}}" in "{{.Status"');
    expect(() => compileTemplate("{{printf .Status}}")).toThrow('--format: {{printf .Status}}: unknown function "printf" (known: json, index, upper, lower)');
    expect(() => compileTemplate("{{.Status .ID}}")).toThrow("one value per action");
    expect(() => compileTemplate("{{index .Actor}}")).toThrow("index takes 2 arguments");
    expect(() => compileTemplate("{{.Nope}}", (p) => (p[0] === "Nope" ? "no such field" : null))).toThrow("--format: {{.Nope}}: no such field");
  });
});

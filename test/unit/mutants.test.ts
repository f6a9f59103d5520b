// test/mutate.ts's reading of bun test's output, and its list of breakages kept in step with the source.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BREAKAGES } from "../mutants/breakages";
import { failingTests } from "../mutants/results";

const output = `test/x.test.ts:
(pass) a > passes [1.00ms]
12 |   expect(r.code).toBe(0);
error: expect(received).toBe(expected)
(fail) a > fails for what it checks [2.00ms]
error: this test left behind:
  state: /run/bunker/abc
(fail) a > leaks only [3.00ms]
error: expect(received).toBe(expected)
error: this test left behind:
  mount: /x
(fail) a > both [4.00ms]
(skip) a > skipped
error: this file (its tests, beforeAll or afterAll) left behind:
  cgroup: /sys/fs/cgroup/bunker/x
(fail) (unnamed) [5.00ms]
(fail) b > failed without an error line
`;

describe("the mutation check's reading of a test run", () => {
  test("names each failing test, and tells a leak-only failure from a real one", () => {
    expect(failingTests(output)).toEqual([
      { name: "a > fails for what it checks", leakOnly: false },
      { name: "a > leaks only", leakOnly: true },
      { name: "a > both", leakOnly: false },
      { name: "(unnamed)", leakOnly: true },
      { name: "b > failed without an error line", leakOnly: false },
    ]);
  });
});

describe("the list of breakages", () => {
  // test/mutate.ts refuses a list whose text has drifted from the source only when it runs (18
  // minutes); this keeps each replacement in step with the source in every run of the suite.
  test("each replaced text occurs exactly once in its file, and each named test file exists", () => {
    const root = join(import.meta.dir, "../..");
    const drifted: string[] = [];
    for (const b of BREAKAGES) {
      const text = readFileSync(join(root, b.file), "utf8");
      for (const e of b.edits) if (text.split(e.from).length !== 2) drifted.push(`${b.name}: ${b.file}: ${JSON.stringify(e.from.slice(0, 80))} occurs ${text.split(e.from).length - 1} times`);
      for (const t of b.tests) if (!existsSync(join(root, t))) drifted.push(`${b.name}: no test file ${t}`);
    }
    expect(drifted).toEqual([]);
    expect(new Set(BREAKAGES.map((b) => b.name)).size).toBe(BREAKAGES.length);
  });
});

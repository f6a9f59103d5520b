// test/mutate.ts's reading of bun test's output.

import { describe, expect, test } from "bun:test";
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

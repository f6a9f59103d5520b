// sys/fs on the edges other commands meet while containers come and go.

import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listDir } from "../../src/sys/fs";

describe("listDir", () => {
  test("lists a directory's names; a missing one, or one removed after it was opened, is empty", () => {
    const dir = mkdtempSync(join(tmpdir(), "bunker-listdir-"));
    try {
      writeFileSync(join(dir, "a"), "");
      expect(listDir(dir)).toEqual(["a"]);
      expect(listDir(join(dir, "missing"))).toEqual([]);
      // Removed between its open and its read (as `rm` does to a container's directory while
      // `ps` reads it): reached here through the descriptor of the directory, now deleted.
      const held = mkdtempSync(join(dir, "held-"));
      const fd = openSync(held, "r");
      try {
        rmdirSync(held);
        expect(listDir(`/proc/self/fd/${fd}`)).toEqual([]);
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

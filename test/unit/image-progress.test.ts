import { describe, expect, test } from "bun:test";
import { barProgress, lineProgress } from "../../src/image/progress";

describe("pull progress", () => {
  test("on a terminal: a bar per layer, redrawn in place over the rows drawn before", () => {
    let out = "";
    const p = barProgress((t) => (out += t));
    p.start("aaaaaaaaaaaa", 1024 * 1024);
    p.start("bbbbbbbbbbbb", 2048);
    p.advance("aaaaaaaaaaaa", 512 * 1024);
    p.finish("bbbbbbbbbbbb", "done");
    p.close();
    // The last drawing: up two rows, then both rows, each cleared first.
    const last = out.slice(out.lastIndexOf("\x1b[2A"));
    expect(last).toBe(`\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: [${"=".repeat(14)}>${" ".repeat(15)}] 512 KiB/1 MiB\n\r\x1b[2Kbbbbbbbbbbbb: done\n`);
  });

  test("elsewhere: a line when a layer starts and when it ends", () => {
    const lines: string[] = [];
    const p = lineProgress((l) => lines.push(l));
    p.start("aaaaaaaaaaaa", 3 * 1024 * 1024);
    p.advance("aaaaaaaaaaaa", 100);
    p.finish("aaaaaaaaaaaa", "done");
    expect(lines).toEqual(["aaaaaaaaaaaa: downloading 3 MiB", "aaaaaaaaaaaa: done"]);
  });
});

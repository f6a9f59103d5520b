import { describe, expect, test } from "bun:test";
import { BunkerError, isFailure, within } from "../../src/errors";
import { CgroupError } from "../../src/cgroups/tree";
import { SpecError } from "../../src/spec/validate";
import { UsageError } from "../../src/options";
import { SysError } from "../../src/sys/errno";
import { FileError } from "../../src/sys/fs";

describe("one failure type", () => {
  test("the planners' kinds are BunkerErrors with bunker's exit status, so a front end reports any of them as they are", () => {
    for (const e of [new SpecError("x"), new CgroupError("x"), new UsageError("x")]) {
      expect(e).toBeInstanceOf(BunkerError);
      expect(isFailure(e)).toBe(true);
      expect((e as BunkerError).exitCode).toBe(125);
    }
    expect(isFailure(new SysError("open /x", 2))).toBe(true);
    expect(isFailure(new TypeError("undefined is not a function"))).toBe(false);
    expect(isFailure("a string")).toBe(false);
  });

  test("within adds what was being done and keeps the exit status, errno and path", () => {
    const e = new BunkerError("no such file", 127, { errno: 2, path: "/bin/x" });
    const w = e.within("run the command");
    expect([w.message, w.exitCode, w.errno, w.path]).toEqual(["run the command: no such file", 127, 2, "/bin/x"]);
    const s = within(new SysError("open /x", 13), "read the profile") as BunkerError;
    expect(s).toBeInstanceOf(BunkerError);
    expect([s.message, s.exitCode, s.errno]).toEqual(["read the profile: open /x: Permission denied", 125, 13]);
    expect((within(new FileError("open /y", 2), "env file") as BunkerError).message).toBe("env file: open /y: no such file or directory");
  });

  test("a bug is not dressed up as a failure: within returns it as it is, stack and all", () => {
    const bug = new TypeError("x is undefined");
    expect(within(bug, "anything")).toBe(bug);
  });
});

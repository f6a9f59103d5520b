import { describe, expect, test } from "bun:test";
import { closest, parseOptions, UsageError, type OptionDefs } from "../../src/options";
import { newId } from "../../src/runtime/store";

const defs: OptionDefs = {
  rootfs: { type: "string", alias: ["root"], description: "" },
  detach: { type: "boolean", alias: ["d"], description: "" },
  interactive: { type: "boolean", alias: ["i"], description: "" },
  env: { type: "string", alias: ["e"], multiple: true, description: "" },
};

describe("option parsing", () => {
  test("stops at the first word that is not an option", () => {
    const r = parseOptions(["--rootfs", "/r", "sh", "-c", "echo --rootfs"], defs, "run");
    expect(r.values.rootfs).toBe("/r");
    expect(r.rest).toEqual(["sh", "-c", "echo --rootfs"]);
  });

  test("-- ends the options", () => {
    expect(parseOptions(["-d", "--", "--rootfs"], defs, "run")).toEqual({ values: { detach: true }, rest: ["--rootfs"], help: false });
  });

  test("long aliases, --name=value, clustered short flags, attached short values, repeatable options", () => {
    const r = parseOptions(["--root=/x", "-di", "-eA=1", "-e", "B=2", "--env", "C", "cmd"], defs, "run");
    expect(r.values).toEqual({ rootfs: "/x", detach: true, interactive: true, env: ["A=1", "B=2", "C"] });
  });

  test("unknown flags and missing values are usage errors naming the flag", () => {
    expect(() => parseOptions(["--nope"], defs, "run")).toThrow(new UsageError("run: unknown flag --nope"));
    expect(() => parseOptions(["-x"], defs, "run")).toThrow("run: unknown flag -x");
    expect(() => parseOptions(["--rootfs"], defs, "run")).toThrow("run: flag --rootfs needs a value");
    expect(() => parseOptions(["--detach=maybe"], defs, "run")).toThrow("run: --detach takes true or false");
  });

  test("--help is noticed only among the options", () => {
    expect(parseOptions(["--help"], defs, "run").help).toBe(true);
    expect(parseOptions(["sh", "--help"], defs, "run").help).toBe(false);
  });
});

test("container ids are 12 hex digits and differ", () => {
  const a = newId();
  expect(a).toMatch(/^[0-9a-f]{12}$/);
  expect(newId()).not.toBe(a);
});

describe("closest", () => {
  test("a word it begins, or one a few edits away (a swap of two letters is one); none when all are far", () => {
    const flags = ["entrypoint", "env", "env-file", "publish", "publish-all", "rm", "volume"];
    expect(closest("entrypont", flags)).toBe("entrypoint");
    expect(closest("enrtypoint", flags)).toBe("entrypoint");
    expect(closest("volum", flags)).toBe("volume");
    expect(closest("env-fil", flags)).toBe("env-file");
    expect(closest("rn", flags)).toBe("rm");
    expect(closest("publis", flags)).toBe("publish");
    expect(closest("xyzzy", flags)).toBeUndefined();
  });
});

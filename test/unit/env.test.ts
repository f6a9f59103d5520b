import { describe, expect, test } from "bun:test";
import { buildEnvironment, envFileEntries } from "../../src/spec/env";
import { orderMounts, parseTmpfs, parseVolume, volumeMount } from "../../src/spec/volumes";

describe("environment", () => {
  const caller = { TERM: "xterm", FROM_CALLER: "yes", SECRET: "no" };
  test("defaults, then env files, then -e; a bare KEY takes the caller's value or nothing", () => {
    const env = buildEnvironment({
      hostname: "h",
      callerEnv: caller,
      files: [{ path: "a.env", text: "# c\nA=file\nB=file\n  C=spaced\nFROM_CALLER\nMISSING\n" }],
      flags: ["B=flag", "D=x=y", "FROM_CALLER", "HOME=/custom"],
    });
    expect(env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/custom",
      "HOSTNAME=h",
      "A=file",
      "B=flag",
      "C=spaced",
      "FROM_CALLER=yes",
      "D=x=y",
    ]);
  });
  test("--user sets HOME, USER and LOGNAME", () => {
    const env = buildEnvironment({ hostname: "h", callerEnv: {}, user: { name: "alice", home: "/home/alice" }, files: [], flags: [] });
    expect(env).toContain("HOME=/home/alice");
    expect(env).toContain("USER=alice");
    expect(env).toContain("LOGNAME=alice");
  });
  test("bad names are errors naming where they came from", () => {
    expect(() => buildEnvironment({ hostname: "h", callerEnv: {}, files: [], flags: ["=x"] })).toThrow("-e =x: empty variable name");
    expect(() => buildEnvironment({ hostname: "h", callerEnv: {}, files: [{ path: "f", text: "\nBAD KEY=1\n" }], flags: [] })).toThrow(
      'f line 2: variable name "BAD KEY" contains whitespace',
    );
  });
  test("env file lines keep their numbers", () => {
    expect(envFileEntries("\n# x\nA=1\r\n")).toEqual([{ line: 3, entry: "A=1" }]);
  });
});

describe("volumes and tmpfs", () => {
  test("read-only unless rw; recursive unless bind", () => {
    expect(parseVolume("./src:/src")).toEqual({ source: "./src", destination: "/src", readonly: true, recursive: true, flags: [] });
    // Said (ro or rw): no notice of the default.
    expect(parseVolume("/a:/b/:rw,bind,noexec")).toEqual({ source: "/a", destination: "/b", readonly: false, recursive: false, flags: ["noexec"], explicit: true });
    expect(volumeMount(parseVolume("/a:/b"))).toEqual({ destination: "/b", type: "bind", source: "/a", options: ["rbind", "ro"] });
  });
  test("bad volumes", () => {
    expect(() => parseVolume("/a:/b:ro:x")).toThrow("use HOST:CONTAINER[:OPTIONS]");
    expect(() => parseVolume("rel")).toThrow("use HOST:CONTAINER[:OPTIONS]");
    expect(() => parseVolume("/a:rel")).toThrow("must be absolute");
    expect(() => parseVolume("/a:/")).toThrow("cannot mount over the container's /");
    expect(() => parseVolume("/a:/x/../y")).toThrow('must not contain ".."');
    expect(() => parseVolume("/a:/b:z")).toThrow('unknown option "z"');
  });
  test("tmpfs options", () => {
    expect(parseTmpfs("/t:size=1m,mode=700")).toEqual({ destination: "/t", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=1m", "mode=700"] });
    expect(() => parseTmpfs("/t:bogus=1")).toThrow('unknown option "bogus=1"');
  });
  test("parents are mounted before what lies inside them", () => {
    const m = (d: string) => ({ destination: d, type: "tmpfs" });
    expect(orderMounts([m("/a/b/c"), m("/x"), m("/a/b"), m("/y")]).map((x) => x.destination)).toEqual(["/x", "/y", "/a/b", "/a/b/c"]);
  });
});

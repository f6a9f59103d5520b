// Which front end a command line goes to: runc's shape goes to the OCI front
// end, bunker's own to its own, and a container command's arguments never
// decide it.

import { describe, expect, test } from "bun:test";
import { wantsOci } from "../../src/oci/route";

describe("routing between bunker's commands and runc's", () => {
  test("commands only runc has, and any command after runc's global flags", () => {
    for (const c of ["state", "delete", "resume", "spec", "features", "update"]) expect(wantsOci(c, ["x"], false)).toBe(true);
    expect(wantsOci("run", ["--rootfs", "r", "sh"], true)).toBe(true);
    expect(wantsOci("create", ["alpine"], true)).toBe(true);
    expect(wantsOci("start", ["x"], true)).toBe(true);
    expect(wantsOci("inspect", ["x"], false)).toBe(false);
  });

  test("exec: runc's flags before the id; the command's own arguments do not count", () => {
    expect(wantsOci("exec", ["--process", "/p.json", "--detach", "--pid-file", "/p", "ID"], false)).toBe(true);
    expect(wantsOci("exec", ["-u", "0", "--pid-file", "/p", "ID", "sh"], false)).toBe(true);
    expect(wantsOci("exec", ["web", "mkdir", "-p", "/x"], false)).toBe(false);
    expect(wantsOci("exec", ["-it", "-u", "1000", "web", "ls", "-d"], false)).toBe(false);
  });

  test("create: runc's with a bundle, a pid file or a console socket; docker's with an image or a root", () => {
    expect(wantsOci("create", ["--bundle", "/b", "id"], false)).toBe(true);
    expect(wantsOci("create", ["-b", "/b", "--pid-file", "/p", "id"], false)).toBe(true);
    expect(wantsOci("create", ["--pid-file=/p", "id"], false)).toBe(true);
    expect(wantsOci("create", ["--console-socket", "/s", "id"], false)).toBe(true);
    expect(wantsOci("create", ["--name", "web", "alpine", "httpd"], false)).toBe(false);
    expect(wantsOci("create", ["--rootfs", "r", "--", "du", "-b", "/"], false)).toBe(false);
    expect(wantsOci("create", ["-t", "alpine"], false)).toBe(false);
  });

  test("start: docker's flags, several containers, or one that no OCI client created, are bunker's own", () => {
    expect(wantsOci("start", ["-a", "web"], false)).toBe(false);
    expect(wantsOci("start", ["--attach", "web"], false)).toBe(false);
    expect(wantsOci("start", ["web", "db"], false)).toBe(false);
    expect(wantsOci("start", ["no-such-container-here"], false)).toBe(false);
  });

  test("run: --bundle before the id; a command's -b is its own", () => {
    expect(wantsOci("run", ["--bundle", "/b", "id"], false)).toBe(true);
    expect(wantsOci("run", ["-b", "/b", "id"], false)).toBe(true);
    expect(wantsOci("run", ["--rootfs", "r", "--", "du", "-b", "/"], false)).toBe(false);
    expect(wantsOci("run", ["--rootfs", "r", "tar", "-b", "20"], false)).toBe(false);
  });

  test("kill: ID SIGNAL as runc's clients pass it (a number or a name in capitals), or --all", () => {
    expect(wantsOci("kill", ["web", "15"], false)).toBe(true);
    expect(wantsOci("kill", ["web", "SIGKILL"], false)).toBe(true);
    expect(wantsOci("kill", ["--all", "web", "9"], false)).toBe(true);
    // Two containers, the second named like a signal: bunker's kill.
    expect(wantsOci("kill", ["web", "io"], false)).toBe(false);
    expect(wantsOci("kill", ["-s", "KILL", "web"], false)).toBe(false);
  });

  test("ps: runc's names one container; bunker's lists them all", () => {
    expect(wantsOci("ps", ["ID"], false)).toBe(true);
    expect(wantsOci("ps", ["--format", "json", "ID"], false)).toBe(true);
    expect(wantsOci("ps", ["-a"], false)).toBe(false);
    expect(wantsOci("ps", [], false)).toBe(false);
  });
});

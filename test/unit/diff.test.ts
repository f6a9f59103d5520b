// docker diff's list less bunker's own mount points.

import { describe, expect, test } from "bun:test";
import { withoutMountPoints } from "../../src/cli/diff";

describe("withoutMountPoints", () => {
  test("mount points bunker made go, and a directory changed only by holding them; the container's own changes stay", () => {
    const changes = [
      { kind: "A" as const, path: "/dev" },
      { kind: "C" as const, path: "/etc" },
      { kind: "A" as const, path: "/etc/hostname" },
      { kind: "A" as const, path: "/etc/hosts" },
      { kind: "C" as const, path: "/srv" },
      { kind: "A" as const, path: "/srv/data" },
      { kind: "A" as const, path: "/srv/mine" },
      { kind: "C" as const, path: "/var" },
      { kind: "A" as const, path: "/var/lib" },
    ];
    expect(withoutMountPoints(changes, ["/dev", "/srv/data", "/etc/hostname", "/etc/hosts"])).toEqual([
      { kind: "C", path: "/srv" },
      { kind: "A", path: "/srv/mine" },
      { kind: "C", path: "/var" },
      { kind: "A", path: "/var/lib" },
    ]);
    // A mount point the container itself changed (a file it wrote there is not bunker's): kept as C.
    expect(withoutMountPoints([{ kind: "C", path: "/etc/hosts" }], ["/etc/hosts"])).toEqual([{ kind: "C", path: "/etc/hosts" }]);
  });
});

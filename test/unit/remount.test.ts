// The flags of the bind remounts that stand in for mount_setattr before
// Linux 5.12: a mount's own flags kept, the asked ones added or cleared, the
// access-time mode replaced only when asked (the kernel locks it in a user
// namespace). MS values as in linux/mount.h, written out.

import { describe, expect, test } from "bun:test";
import { msOfStatfs, remountFlags } from "../../src/rootfs/remount";

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_NOATIME = 1024;
const MS_BIND = 4096;
const MS_RELATIME = 1 << 21;
const MS_STRICTATIME = 1 << 24;
// MOUNT_ATTR_* (linux/mount.h)
const ATTR_RDONLY = 1;
const ATTR_NODEV = 4;
const ATTR_NOATIME = 0x10;
const ATTR_ATIME_MASK = 0x70;

describe("bind remounts without mount_setattr", () => {
  test("statfs flags become the MS flags a remount keeps, with the access-time mode", () => {
    // ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME
    expect(msOfStatfs(1 | 2 | 4 | 8 | 4096)).toBe(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
    expect(msOfStatfs(2 | 1024)).toBe(MS_NOSUID | MS_NOATIME);
    // Neither noatime nor relatime: strictatime, which a remount must then name.
    expect(msOfStatfs(0)).toBe(MS_STRICTATIME);
  });

  test("read-only added to a mount's own flags: nothing of them dropped", () => {
    expect(remountFlags(MS_NOSUID | MS_NOEXEC | MS_NOATIME, ATTR_RDONLY, 0)).toBe(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NOATIME);
    expect(remountFlags(MS_NODEV | MS_RELATIME, ATTR_RDONLY | ATTR_NODEV, 0)).toBe(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV | MS_RELATIME);
  });

  test("cleared flags go; a cleared access-time mode becomes relatime; a set one replaces the mount's", () => {
    expect(remountFlags(MS_RDONLY | MS_NOSUID | MS_STRICTATIME, 0, ATTR_RDONLY)).toBe(MS_REMOUNT | MS_BIND | MS_NOSUID | MS_STRICTATIME);
    expect(remountFlags(MS_NOATIME, 0, ATTR_ATIME_MASK)).toBe(MS_REMOUNT | MS_BIND | MS_RELATIME);
    expect(remountFlags(MS_STRICTATIME, ATTR_NOATIME, ATTR_ATIME_MASK)).toBe(MS_REMOUNT | MS_BIND | MS_NOATIME);
  });
});

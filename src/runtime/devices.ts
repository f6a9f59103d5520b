// --device: the host's node behind each flag, looked at before the
// container is made (it must exist and be a device; a user must be able to
// open it, as their container can only bind it from the host).

import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { BunkerError } from "../errors";
import type { DeviceFlag } from "../spec/devices";
import type { LinuxDevice } from "../spec/types";

export interface HostDevice {
  /** The node on the host, symlinks resolved: what a rootless container binds. */
  source: string;
  device: LinuxDevice;
  access: string;
}

/** major(3) and minor(3) of a dev_t. */
const major = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
const minor = (rdev: number) => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);

const reason = (e: unknown) => ((e as NodeJS.ErrnoException).code === "ENOENT" ? "No such file or directory" : (e as NodeJS.ErrnoException).code === "EACCES" ? "Permission denied" : (e as Error).message);

/** The node of each flag, checked; `uid` 0 makes nodes, others bind them. */
export function hostDevices(flags: readonly DeviceFlag[], uid: number): HostDevice[] {
  return flags.map((f) => {
    const what = `--device ${f.host}`;
    let source: string;
    let st;
    try {
      source = realpathSync(f.host);
      st = statSync(source);
    } catch (e) {
      throw new BunkerError(`${what}: stat ${f.host}: ${reason(e)}`);
    }
    if (st.isDirectory()) throw new BunkerError(`${what}: a directory of devices is not supported: give each device`);
    if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new BunkerError(`${what}: ${source} is not a device node`);
    if (uid !== 0) {
      // The container gets the host's node itself: what the user may open, and nothing more.
      const mode = (f.access.includes("r") ? constants.R_OK : 0) | (f.access.includes("w") ? constants.W_OK : 0);
      try {
        accessSync(source, mode || constants.F_OK);
      } catch (e) {
        throw new BunkerError(`${what}: you cannot open ${source} (${reason(e)}): a rootless container gets only the devices you can open`);
      }
    }
    return {
      source,
      access: f.access,
      device: { path: f.path, type: st.isBlockDevice() ? "b" : "c", major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid },
    };
  });
}

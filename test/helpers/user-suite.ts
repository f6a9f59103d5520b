// The set-up most rootless tests share: a user with subordinate ID ranges, a
// copy of bunker that user may run, and a busybox rootfs of theirs, made
// before a describe block's tests and removed after them.

import { afterAll, beforeAll } from "bun:test";
import { rmSync } from "node:fs";
import { BUNKER } from "./bunker";
import { giveRootfs, makeRootfs, type Rootfs } from "./rootfs";
import { createUser, publicBinary, removeUser, runAs, type AsResult, type TestUser } from "./users";

export interface UserSuite {
  readonly user: TestUser;
  /** The user's copy of bunker. */
  readonly bin: { path: string; dir: string };
  /** A busybox rootfs the user owns. */
  readonly fs: Rootfs;
  /** `bunker ARGS` as the user. */
  as(args: string[], env?: Record<string, string>): AsResult;
}

/**
 * Registers the set-up in the describe block it is called in, for user
 * `name` (made if missing); `cleanup` runs before it is all removed (the
 * user's containers, say).
 */
export function userSuite(name: string, cleanup: (s: UserSuite) => void = () => {}): UserSuite {
  let user: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  let fs: Rootfs | undefined;
  const suite: UserSuite = {
    get user() {
      return user!;
    },
    get bin() {
      return bin!;
    },
    get fs() {
      return fs!;
    },
    as: (args, env = {}) => runAs(user!, [bin!.path, ...args], env),
  };
  beforeAll(() => {
    user = createUser(name, true);
    bin = publicBinary(BUNKER);
    fs = makeRootfs();
    giveRootfs(fs, user);
  });
  afterAll(() => {
    if (user && bin) cleanup(suite);
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    fs?.remove();
    if (user) removeUser(user);
  });
  return suite;
}

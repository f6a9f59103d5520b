// --user NAME|UID[:GROUP|GID], looked up in the container's own /etc/passwd
// and /etc/group, with initgroups semantics for supplementary groups.

import { BunkerError } from "../errors";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  /** The comment field: a full name, for most. */
  gecos: string;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), gecos: f[4]!, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) });
  }
  return out;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
  /** The user's name, when passwd knows it. */
  name?: string;
}

export class UserError extends BunkerError {
  override name = "UserError";
}

const MAX_ID = 0xfffffffe;

function numeric(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/**
 * Resolves a --user value. `passwd` and `group` are the container's files
 * (undefined when missing); `where` names them for errors.
 */
export function resolveUser(
  spec: string,
  passwd: string | undefined,
  group: string | undefined,
  where: { passwd: string; group: string },
): ResolvedUser {
  if (spec === "") throw new UserError("--user is empty");
  const colon = spec.indexOf(":");
  const userPart = colon >= 0 ? spec.slice(0, colon) : spec;
  const groupPart = colon >= 0 ? spec.slice(colon + 1) : undefined;
  if (userPart === "") throw new UserError(`--user ${spec}: no user before the colon`);
  if (groupPart === "") throw new UserError(`--user ${spec}: no group after the colon`);
  const users = passwd !== undefined ? parsePasswd(passwd) : [];
  const groups = group !== undefined ? parseGroup(group) : [];

  const uidNum = numeric(userPart);
  const entry = uidNum !== undefined ? users.find((u) => u.uid === uidNum) : users.find((u) => u.name === userPart);
  if (!entry && uidNum === undefined) {
    if (/^\d+$/.test(userPart)) throw new UserError(`--user ${spec}: user ID out of range`);
    throw new UserError(`unknown user "${userPart}": not in ${where.passwd}`);
  }
  const uid = entry ? entry.uid : uidNum!;
  let gid = entry ? entry.gid : 0;
  if (groupPart !== undefined) {
    const gidNum = numeric(groupPart);
    if (gidNum !== undefined) gid = gidNum;
    else {
      if (/^\d+$/.test(groupPart)) throw new UserError(`--user ${spec}: group ID out of range`);
      const g = groups.find((g) => g.name === groupPart);
      if (!g) throw new UserError(`unknown group "${groupPart}": not in ${where.group}`);
      gid = g.gid;
    }
  }
  // initgroups: the primary group plus every group listing the user by name.
  // An explicit group replaces the primary one but keeps the memberships.
  const additional = new Set<number>([gid]);
  if (entry) for (const g of groups) if (g.members.includes(entry.name)) additional.add(g.gid);
  return {
    uid,
    gid,
    additionalGids: [...additional],
    home: entry?.home || "/",
    ...(entry ? { name: entry.name } : {}),
  };
}

// The container's environment: bunker's clean defaults, then --env-file
// entries, then -e flags, later ones winning.

import { DEFAULT_PATH } from "./defaults";
import { SpecError } from "./validate";

export interface EnvSources {
  hostname: string;
  callerEnv: Record<string, string | undefined>;
  /** The --user, when given: HOME, USER and LOGNAME follow it. */
  user?: { name?: string; home: string };
  /** An image's Env (KEY=VALUE): after bunker's defaults, before files and flags. */
  image?: readonly string[];
  /** --env-file contents, in order, with their paths for errors. */
  files: { path: string; text: string }[];
  /** -e values, in order. */
  flags: string[];
}

function checkKey(key: string, where: string): void {
  if (key === "") throw new SpecError(`${where}: empty variable name`);
  if (/\s/.test(key)) throw new SpecError(`${where}: variable name "${key}" contains whitespace`);
  if (key.includes("\0")) throw new SpecError(`${where}: variable name contains a NUL byte`);
}

/** KEY=VALUE sets; a bare KEY takes the caller's value, or is skipped when the caller has none. */
function apply(env: Map<string, string>, entry: string, caller: Record<string, string | undefined>, where: string): void {
  const eq = entry.indexOf("=");
  const key = eq >= 0 ? entry.slice(0, eq) : entry;
  checkKey(key, where);
  if (eq >= 0) {
    const value = entry.slice(eq + 1);
    if (value.includes("\0")) throw new SpecError(`${where}: value of ${key} contains a NUL byte`);
    env.set(key, value);
    return;
  }
  const inherited = caller[key];
  if (inherited !== undefined) env.set(key, inherited);
}

/** Lines of a docker-style env file: KEY=VALUE or KEY, comments and blank lines skipped, no quoting. */
export function envFileEntries(text: string): { line: number; entry: string }[] {
  const out: { line: number; entry: string }[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "").replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) return;
    out.push({ line: i + 1, entry: line });
  });
  return out;
}

export function buildEnvironment(s: EnvSources): string[] {
  const env = new Map<string, string>();
  env.set("PATH", DEFAULT_PATH);
  env.set("HOME", s.user?.home ?? "/root");
  env.set("HOSTNAME", s.hostname);
  // No TERM of the caller's: -t gives TERM=xterm (as docker), and without a terminal there is none.
  // An image's Env comes next: it may set PATH, HOME, anything; files and flags win over it.
  for (const e of s.image ?? []) {
    const eq = e.indexOf("=");
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  if (s.user?.name) {
    env.set("USER", s.user.name);
    env.set("LOGNAME", s.user.name);
  }
  for (const f of s.files) {
    for (const { line, entry } of envFileEntries(f.text)) apply(env, entry, s.callerEnv, `${f.path} line ${line}`);
  }
  for (const flag of s.flags) apply(env, flag, s.callerEnv, `-e ${flag}`);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

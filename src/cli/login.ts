// bunker login [-u USER] [-p PASSWORD | --password-stdin] [REGISTRY]; bunker logout [REGISTRY]

import { BunkerError } from "../errors";
import { writeOut } from "../output";
import { loginFile, removeCredentials, saveCredentials } from "../image/auth";
import { DEFAULT_DOMAIN, isLoopbackRegistry, registryHost } from "../image/reference";
import { failure, Registry } from "../image/registry";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";
import { tlsVerifyOption } from "./image";

const loginOptions: OptionDefs = {
  username: { type: "string", alias: ["u"], valueHint: "USER", description: "The user name" },
  password: { type: "string", alias: ["p"], valueHint: "PASSWORD", description: "The password (it shows in the process list: prefer --password-stdin)" },
  "password-stdin": { type: "boolean", description: "Read the password from stdin" },
  "tls-verify": { type: "string", valueHint: "true|false", description: "Check the registry's certificate (false also allows plain HTTP)" },
};

/** A registry as the user names it: a host[:port], or Docker Hub by default. */
function domainOf(arg: string | undefined): string {
  if (arg === undefined) return DEFAULT_DOMAIN;
  const d = arg.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  if (d === "index.docker.io" || d === "registry-1.docker.io") return DEFAULT_DOMAIN;
  if (!/^[a-zA-Z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(d)) throw new UsageError(`"${arg}" is not a registry (a host, with a port if it has one)`);
  return d;
}

export async function login(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, loginOptions, { name: "login", description: "Log in to a registry: its credentials are kept for pulls", positional: "[REGISTRY]", examples: ["bunker login -u me registry.example.com", "echo \"$TOKEN\" | bunker login -u me --password-stdin ghcr.io"] });
  if (!parsed) return 0;
  if (parsed.rest.length > 1) throw new UsageError(`login: unexpected argument "${parsed.rest[1]}"`);
  const v = parsed.values;
  const domain = domainOf(parsed.rest[0]);
  const username = v.username as string | undefined;
  if (!username) throw new UsageError("login: give the user name with -u");
  let password = v.password as string | undefined;
  if (v["password-stdin"]) {
    if (password !== undefined) throw new UsageError("login: --password and --password-stdin both give the password: give one");
    password = (await new Response(Bun.stdin.stream()).text()).replace(/\r?\n$/, "");
  }
  if (!password) throw new UsageError("login: give the password with --password-stdin (or -p)");
  const tlsVerify = tlsVerifyOption(v["tls-verify"]);
  const reg = new Registry(registryHost({ domain, path: "" }), { plainHttp: isLoopbackRegistry(domain) || !tlsVerify, tlsVerify, credentials: { username, password } });
  const what = `login ${domain}`;
  const res = await reg.get("", undefined, what);
  if (!res.ok) throw await failure(res, what);
  const file = loginFile();
  try {
    saveCredentials(file, domain, { username, password });
  } catch (e) {
    throw new BunkerError(`${what}: keep the credentials in ${file}: ${(e as Error).message}`);
  }
  await writeOut("Login Succeeded\n");
  return 0;
}

export async function logout(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, {}, { name: "logout", description: "Forget a registry's credentials", positional: "[REGISTRY]", examples: ["bunker logout registry.example.com"] });
  if (!parsed) return 0;
  if (parsed.rest.length > 1) throw new UsageError(`logout: unexpected argument "${parsed.rest[1]}"`);
  const domain = domainOf(parsed.rest[0]);
  const changed = removeCredentials(domain);
  if (changed.length === 0) throw new BunkerError(`not logged in to ${domain}`);
  await writeOut(`Removed login credentials for ${domain}\n`);
  return 0;
}

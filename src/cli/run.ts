// bunker run [OPTIONS] [--] COMMAND [ARG...]

import { rmSync, writeFileSync } from "node:fs";
import { resolveIdentity } from "../identity/resolve";
import { LOG_LEVELS, log, mark, setLogLevel, type LogLevel } from "../log";
import { detach } from "../runtime/detach";
import { runContainer } from "../runtime/run";
import { cgroupsPath, chooseCgroups } from "../runtime/cgroup";
import { pinnedTypes } from "../runtime/pin";
import { hostDevices } from "../runtime/devices";
import { joinContainers, joinedOwners, joinedUserns } from "../runtime/join-container";
import { rootfsExposure } from "../runtime/exposure";
import { checkRootfs, hostHasResolvConf, networkChoice, readEnvFiles, sandboxCwd, seccompProfile, volumeSource } from "../runtime/runhost";
import { containerExists, newId, resolveContainer, validateName } from "../runtime/store";
import { UsageError, type OptionDefs, type Parsed } from "../options";
import type { ContainerSpec, VolumeUse } from "../spec/types";
import { exposedPorts, PULL_POLICIES, runFlags, runSpec, USERNS_MODES, type RunFlags, type RunHost } from "./runspec";
import { LOG_DRIVERS } from "../spec/logging";
import { NETWORK_MODES } from "../spec/validate";
import { parseCommand } from "./usage";
import { isTerminal, writeErr } from "../output";
import { BunkerError } from "../errors";
import { findImage, openStore, storeRoot } from "../image/store";
import { parseReference } from "../image/reference";
import { imageFile, imageHasDir } from "../image/files";
import { imageRoot } from "../runtime/image-rootfs";

export const runOptions: OptionDefs = {
  rootfs: {
    type: "string",
    alias: ["root"],
    valueHint: "DIR",
    description: "A root filesystem directory to run in, instead of an image",
  },
  "host-root": {
    type: "boolean",
    description: "Run on the host's own files, read-only, with private /tmp, /run, /dev and /proc, instead of an image",
  },
  "publish-all": { type: "boolean", alias: ["P"], description: "Publish every port the image and --expose expose, each on a free host port" },
  expose: { type: "string", multiple: true, valueHint: "PORT[/PROTO]", description: "Expose a port or a range (8000-8010/udp): recorded, and published by -P" },
  "add-host": { type: "string", multiple: true, valueHint: "NAME:IP", description: "Another line of /etc/hosts (IP may be host-gateway: the host as the container reaches it)" },
  dns: { type: "string", multiple: true, valueHint: "IP", description: "A name server for /etc/resolv.conf (instead of the usual ones)" },
  "dns-search": { type: "string", multiple: true, valueHint: "DOMAIN", description: "A search domain for /etc/resolv.conf (. for none)" },
  "dns-option": { type: "string", multiple: true, valueHint: "OPTION", description: "A resolver option for /etc/resolv.conf (ndots:2, edns0, ...)" },
  label: { type: "string", multiple: true, alias: ["l"], valueHint: "KEY=VALUE", description: "A label, shown by inspect (an image's labels too)" },
  "label-file": { type: "string", multiple: true, valueHint: "FILE", description: "Labels from a file of KEY=VALUE lines" },
  pid: { type: "string", valueHint: "MODE", description: "host: the host's PID namespace (root); container:ID: another container's (it dies with that one)" },
  ipc: { type: "string", valueHint: "MODE", description: "shareable (default: others may join it), private, none (no /dev/shm); host (root) or container:ID: that IPC namespace and /dev/shm" },
  uts: { type: "string", valueHint: "host", description: "host: the host's UTS namespace (its host name)" },
  device: { type: "string", multiple: true, valueHint: "HOST[:CTR][:PERMS]", description: "A host device in the container's /dev (PERMS: some of r, w, m; default rwm); rootless: one you can open, bound" },
  "device-cgroup-rule": { type: "string", multiple: true, valueHint: "RULE", description: "Allow devices by number: \"c 1:3 rwm\", \"b 8:* r\" (TYPE MAJOR:MINOR PERMS; root)" },
  "group-add": { type: "string", multiple: true, valueHint: "GROUP", description: "Another group for the command, by name (the container's /etc/group) or number" },
  cidfile: { type: "string", valueHint: "FILE", description: "Write the container's id to FILE (which must not exist)" },
  "shm-size": { type: "string", valueHint: "SIZE", description: "The size of /dev/shm (default 64m)" },
  sysctl: { type: "string", multiple: true, valueHint: "NAME=VALUE", description: "A sysctl of the container's own namespaces (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)" },
  "oom-score-adj": { type: "string", valueHint: "N", description: "The first process's OOM score adjustment, -1000 to 1000" },
  restart: { type: "string", valueHint: "POLICY", values: ["no", "on-failure", "always", "unless-stopped"], description: "When the container ends: no (default), on-failure[:MAX], always, unless-stopped: it is started again, after a back-off of 0.1 s doubling up to 1 min" },
  "stop-timeout": { type: "string", valueHint: "SECONDS", description: "How long bunker stop waits before SIGKILL (default 10)" },
  "log-driver": { type: "string", valueHint: "DRIVER", values: LOG_DRIVERS, description: "A detached container's log: json-file (default; docker's records) or none" },
  "log-opt": { type: "string", multiple: true, valueHint: "KEY=VALUE", description: "max-size=SIZE (default 10m, -1 for no cap), max-file=N (default 3): files of the log, rotated" },
  "stop-signal": { type: "string", valueHint: "SIGNAL", description: "The signal bunker stop sends first (default SIGTERM, or the image's StopSignal)" },
  "health-cmd": { type: "string", valueHint: "CMD", description: "A health check: CMD run by /bin/sh -c in the container; exit 0 is healthy (instead of the image's HEALTHCHECK)" },
  "health-interval": { type: "string", valueHint: "DURATION", description: "Time between health checks (default 30s)" },
  "health-timeout": { type: "string", valueHint: "DURATION", description: "A check running longer is killed and counts as failed (default 30s)" },
  "health-retries": { type: "string", valueHint: "N", description: "Failures in a row that make the container unhealthy (default 3)" },
  "health-start-period": { type: "string", valueHint: "DURATION", description: "Time after the start when failures do not count (default 0s)" },
  "health-start-interval": { type: "string", valueHint: "DURATION", description: "Time between checks during the start period (default 5s)" },
  "no-healthcheck": { type: "boolean", description: "Run no health check, not even the image's" },
  pull: { type: "string", valueHint: "WHEN", values: PULL_POLICIES, description: "Pull the image: missing (default: when the store has none), always, never" },
  platform: { type: "string", valueHint: "OS/ARCH[/VARIANT]", description: "The image's platform when it is pulled (default this machine's)" },
  entrypoint: { type: "string", valueHint: "CMD", description: "Run CMD instead of the image's entrypoint (\"\" for none; the image's Cmd goes too)" },
  user: { type: "string", alias: ["u"], valueHint: "USER[:GROUP]", description: "Run as this user (name or ID, looked up in the container's /etc/passwd)" },
  workdir: { type: "string", alias: ["w"], valueHint: "DIR", description: "Working directory inside the container, created if missing" },
  env: { type: "string", alias: ["e"], multiple: true, valueHint: "KEY[=VALUE]", description: "Set a variable; KEY alone takes yours (repeatable)" },
  "env-file": { type: "string", multiple: true, valueHint: "FILE", description: "Read KEY=VALUE lines from a file (repeatable; -e wins)" },
  volume: {
    type: "string",
    alias: ["v"],
    multiple: true,
    valueHint: "HOST:CONTAINER[:OPTS]",
    description:
      "Bind-mount a host path, READ-ONLY unless OPTS has rw (bunker's default); NAME:CONTAINER mounts a named volume (made if missing), read-write unless OPTS has ro; CONTAINER alone, a new anonymous volume (OPTS: ro, rw, bind, nosuid, nodev, noexec, nocopy, rshared...; repeatable)",
  },
  mount: {
    type: "string",
    multiple: true,
    valueHint: "type=TYPE,source=SRC,target=DST[,...]",
    description:
      "docker's mount syntax: type=bind|volume|tmpfs, source/src, target/destination/dst, readonly, bind-propagation, volume-nocopy, tmpfs-size, tmpfs-mode; a bind is read-write unless readonly is given (repeatable)",
  },
  "volumes-from": { type: "string", multiple: true, valueHint: "CONTAINER[:ro|rw]", description: "The binds and volumes of another container, at the same paths (repeatable)" },
  tmpfs: { type: "string", multiple: true, valueHint: "PATH[:OPTS]", description: "Mount a tmpfs (size=, mode=; repeatable)" },
  name: { type: "string", valueHint: "NAME", description: "A unique name for the container" },
  detach: { type: "boolean", alias: ["d"], description: "Run in the background and print the container id" },
  tty: { type: "boolean", alias: ["t"], description: "Give the command a terminal (from the container's devpts)" },
  interactive: { type: "boolean", alias: ["i"], description: "Pass your input to the container (without -i its stdin is /dev/null)" },
  rm: { type: "boolean", description: "Remove the container's state when it exits" },
  "sig-proxy": { type: "boolean", description: "Pass the signals bunker receives on to the container (default true; without -t). With =false they end bunker, and the container with it" },
  init: { type: "boolean", description: "Run a minimal init as PID 1: it reaps orphans and passes signals to the command" },
  pin: { type: "string", valueHint: "DIR", description: "Pin the container's namespaces into DIR (bunker ns unpin DIR frees them)" },
  "join-ns": { type: "string", valueHint: "DIR", description: "Join the network, IPC and UTS namespaces pinned in DIR" },
  hostname: { type: "string", valueHint: "NAME", description: "Container hostname (default: the container id)" },
  network: {
    type: "string",
    alias: ["net"],
    multiple: true,
    valueHint: "MODE",
    values: NETWORK_MODES,
    description:
      "private (default: bridge as root, slirp4netns or pasta rootless), bridge, slirp4netns, pasta, none (lo only), host, container:ID, ns:PATH, or the name of a network made by bunker network create (repeatable for several); slirp4netns, pasta and private take :allow_host_loopback=true",
  },
  ip: { type: "string", valueHint: "IP", description: "The container's address on its (first) network made by bunker network create" },
  "network-alias": { type: "string", multiple: true, valueHint: "NAME", description: "Another name the container answers to on its networks made by bunker network create" },
  publish: {
    type: "string",
    alias: ["p"],
    multiple: true,
    valueHint: "[IP:][HOSTPORT:]PORT[/PROTO]",
    description: "Publish a container port on the host (8080:80, 127.0.0.1:5353:53/udp, 8000-8001:80-81; repeatable)",
  },
  subnet: { type: "string", valueHint: "CIDR", description: "Subnet for the bunker0 bridge when it is created (default: a free /16 in 10.89-10.127)" },
  userns: {
    type: "string",
    valueHint: "MODE",
    values: USERNS_MODES,
    description: "User namespace: private (the default without root), keep-id (keep your IDs inside, with an entry in its /etc/passwd and /etc/group), host (root's default)",
  },
  "cap-add": { type: "string", multiple: true, valueHint: "CAP", description: "Add a capability (NET_ADMIN, CAP_SYS_TIME, ALL; repeatable)" },
  "cap-drop": { type: "string", multiple: true, valueHint: "CAP", description: "Drop a capability from the default set (or ALL; repeatable)" },
  privileged: {
    type: "boolean",
    description: "Every capability, no seccomp filter, no masked or read-only /proc and /sys paths: gives up most of the isolation from the host",
  },
  "security-opt": {
    type: "string",
    multiple: true,
    valueHint: "OPT",
    description: "no-new-privileges[=true|false] (default true); seccomp=unconfined or seccomp=FILE (a docker/OCI profile)",
  },
  "read-only": { type: "boolean", description: "Mount the rootfs read-only (with tmpfs /tmp and /run)" },
  ulimit: { type: "string", multiple: true, valueHint: "NAME=SOFT[:HARD]", description: "Set a resource limit (nofile=1024:2048, core=0, ...; repeatable)" },
  memory: { type: "string", alias: ["m"], valueHint: "SIZE", description: "Memory limit (512m, 1g; at least 6m); the container is killed with 137 past it" },
  "memory-swap": { type: "string", valueHint: "SIZE", description: "Memory plus swap limit (-1: unlimited swap; default or 0: twice --memory)" },
  "memory-reservation": { type: "string", valueHint: "SIZE", description: "Soft memory limit, below --memory: what the container keeps when the host runs short" },
  "oom-kill-disable": { type: "boolean", description: "Do not kill the container's processes past -m: they wait for memory instead (cgroup v1 only; a warning on v2)" },
  cpus: { type: "string", valueHint: "N", description: "CPU time limit, in CPUs (1.5: one and a half CPUs' worth per period)" },
  "cpu-period": { type: "string", valueHint: "USEC", description: "The CPU period, 1000-1000000 µs (default 100000), for --cpu-quota; not with --cpus" },
  "cpu-quota": { type: "string", valueHint: "USEC", description: "CPU time per period, in µs (at least 1000; 50000 of 100000: half a CPU); not with --cpus" },
  "cpu-shares": { type: "string", valueHint: "N", description: "Relative CPU weight, 2-262144 (1024 is the default; 0: unset)" },
  "cpu-weight": { type: "string", valueHint: "N", description: "Relative CPU weight on cgroup v2's scale, 1-10000 (100 is the default)" },
  "cpuset-cpus": { type: "string", valueHint: "LIST", description: "CPUs the container may run on (0-2,4)" },
  "pids-limit": { type: "string", valueHint: "N", description: "Most processes and threads at once (default 2048 with a cgroup; 0 or -1: no limit)" },
  "blkio-weight": { type: "string", valueHint: "N", description: "Relative block I/O weight, 10-1000 (needs the BFQ scheduler or io cost model)" },
  cgroups: { type: "string", valueHint: "MODE", description: "enabled (default: a cgroup per container where allowed) or disabled" },
  "map-uid": { type: "string", valueHint: "ID", description: "Container user ID you become (default 0)" },
  "map-gid": { type: "string", valueHint: "ID", description: "Container group ID you become (default 0)" },
  "log-level": { type: "string", valueHint: "LEVEL", values: LOG_LEVELS, description: `Logging to stderr: ${LOG_LEVELS.join(", ")} (default warn)` },
};

const EXAMPLES = [
  "bunker import alpine-minirootfs.tar.gz alpine && bunker run --rm -it alpine sh",
  "bunker run --rootfs ./alpine -- sh -c 'hostname; ps'",
  "bunker run --rootfs ./alpine --user alpine -v ./src:/src:rw -w /src -e CI=1 -- make test",
  "bunker run -d --name db -v pgdata:/var/lib/postgresql/data postgres   # a named volume, read-write",
  "bunker run --map-uid 1100 --map-gid 1100 --rootfs ./alpine -- id",
  "bunker run --host-root -- ls /      # the host's files, read-only, in a sandbox",
  "bunker run -d --name web -p 8080:80 --rootfs ./alpine -- httpd -f -p 80",
  "bunker run -m 512m --cpus 1.5 --pids-limit 200 --rootfs ./alpine -- make -j4",
];

/** What the host says about the flags: the reads and checks runSpec needs, in the order their errors should come. */
/** Whether `ref` could be pulled: a reference, not an image id. */
function pullable(ref: string): boolean {
  try {
    parseReference(ref);
    return !/^(sha256:)?[0-9a-f]{64}$/.test(ref);
  } catch {
    // not a reference at all
    return false;
  }
}

/** The image `ref` from the store (pulled first as --pull says), and the root filesystem container `id` of it gets. */
async function runImage(f: RunFlags, ref: string, id: string, covered: readonly string[]): Promise<NonNullable<RunHost["image"]>> {
  // A pull unpacks (and a user's store is kept) through the helper of userns-helper.ts.
  if ((process.geteuid?.() ?? 0) !== 0) (await import("../runtime/userns-helper")).useRootlessStoreHelpers();
  let record = f.pull === "always" ? null : findImage(openStore(), ref);
  if (!record && f.pull !== "never" && pullable(ref)) {
    const { pullImage } = await import("../image/pull");
    if (f.pull === "missing") await writeErr(`Unable to find image '${ref}' here: pulling it\n`);
    try {
      record = await pullImage(ref, { ...(f.platform !== undefined ? { platform: f.platform } : {}), progress: (await import("./image")).pullProgress() });
    } catch (e) {
      // Not in the store, and the pull failed: say what else the word could have meant.
      if (!(e instanceof BunkerError)) throw e;
      throw new BunkerError(`run: no image "${ref}" in ${storeRoot()}, and ${e.message}; a command on the host's files: bunker run --host-root -- ${ref} ...; on a directory: --rootfs DIR`);
    }
  }
  if (!record) {
    throw new BunkerError(`run: no image "${ref}" in ${storeRoot()} (bunker pull or bunker import FILE ${ref} makes one; a command on the host's files: bunker run --host-root -- ${ref} ...; on a directory: --rootfs DIR)`);
  }
  const root = imageRoot(record, ref, id, [...f.volumes.map(({ volume }) => volume.destination), ...f.tmpfs.map((m) => m.destination), ...covered]);
  return { record, root, hasEtc: imageHasDir(root.lower, "/etc") };
}

/**
 * The run's volumes of the store, each held (made if missing; an image's
 * content copied into one empty at first use), and its --volumes-from; the
 * anonymous volumes it makes are added to `made` as they are.
 */
async function runVolumes(f: RunFlags, image: RunHost["image"], made: VolumeUse[]): Promise<Pick<RunHost, "volumeSources" | "volumeUses" | "volumesFrom">> {
  const uses = (await import("../runtime/volume-use"));
  const volumeSources: string[] = [];
  const volumeUses: VolumeUse[] = [];
  for (const { value, volume } of f.volumes) {
    if (volume.kind !== "volume") {
      const source = volumeSource(value, volume.source);
      volumeSources.push(source);
      volumeUses.push({ destination: volume.destination, source, readonly: volume.readonly });
      continue;
    }
    const held = uses.takeVolume(volume.source);
    const use: VolumeUse = { destination: volume.destination, source: held.data, readonly: volume.readonly, name: held.name, ...(held.anonymous ? { anonymous: true } : {}) };
    if (held.anonymous) made.push(use);
    if (image && !volume.nocopy) await uses.fillVolume(held, image.root.lower, volume.destination, (await import("../runtime/userns-helper")).copyTrees);
    volumeSources.push(held.data);
    volumeUses.push(use);
  }
  const covered = [...f.volumes.map(({ volume }) => volume.destination), ...f.tmpfs.map((m) => m.destination)];
  const from = f.volumesFrom.length ? uses.volumesFrom(f.volumesFrom, covered) : [];
  return { volumeSources, volumeUses: [...volumeUses, ...from], volumesFrom: from };
}

/** The destinations --volumes-from takes (read from the containers' states, before an image's volumes are chosen). */
function fromDestinations(f: RunFlags): string[] {
  return f.volumesFrom.flatMap(({ ref }) => {
    const s = resolveContainer(ref);
    return [...(s.spec.bunker.volumes ?? []), ...(s.spec.bunker.image?.volumes ?? [])].map((v) => v.destination);
  });
}

async function runHost(f: RunFlags, made: VolumeUse[]): Promise<RunHost> {
  const id = newId();
  const image = f.image !== undefined ? await runImage(f, f.image, id, fromDestinations(f)) : undefined;
  const rootfs = f.rootfs !== undefined ? checkRootfs(f.rootfs) : undefined;
  mark("rootfs");
  const user = f.user ?? (image?.record.config.config?.User || undefined);
  const volumes = await runVolumes(f, image, made);
  const uid = process.geteuid?.() ?? 0;
  // The store is root's alone: a container root of subordinate IDs could not reach its layers.
  if (image && uid === 0 && f.userns === "private") throw new BunkerError("run: an image with --userns private as root is not supported yet: run it without --userns, or as a user");
  const identity = resolveIdentity({
    uid,
    gid: process.getegid?.() ?? 0,
    userns: f.userns,
    ...(f.mapUid !== undefined ? { mapUid: f.mapUid } : {}),
    ...(f.mapGid !== undefined ? { mapGid: f.mapGid } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(f.groupAdd.length ? { groupAdd: f.groupAdd } : {}),
    rootfs: rootfs?.path,
    ...(image ? { readFile: (path: string) => imageFile(image.root.lower, path) } : {}),
    path: process.env.PATH ?? "",
  });
  mark("identity");
  if (identity.notice) await log.warn(identity.notice);
  const cgroups = await chooseCgroups(f.cgroups, uid, f.resources);
  mark("cgroups");
  const exposed = exposedPorts(f, image?.record.config.config);
  const net = await networkChoice(f.network, uid, f.joinNs, [...f.ports, ...exposed], f.subnet, f.networks);
  const envFiles = readEnvFiles(f.envFiles);
  const labelFiles = readEnvFiles(f.labelFiles).map(({ path, text }) => ({ path: `--label-file ${path}`, lines: text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")) }));
  const cwd = f.hostRoot && f.workdir === undefined ? await sandboxCwd() : undefined;
  mark("env");
  const joins = joinContainers(f.joinContainers);
  const joinedUser = joinedUserns(uid, joinedOwners({ arg: f.network.mode, ...(net.joined !== undefined ? { joined: net.joined } : {}) }, joins, f.joinContainers), identity);
  return {
    id,
    ...(image ? { image } : {}),
    ...(exposed.length ? { exposed } : {}),
    uid,
    callerEnv: process.env,
    ...(rootfs ? { rootfs } : {}),
    identity,
    cgroups,
    net,
    ...volumes,
    envFiles,
    labelFiles,
    ...(cwd !== undefined ? { sandboxCwd: cwd } : {}),
    hostResolvConf: hostHasResolvConf(),
    ...(typeof f.seccomp === "object" ? { seccompProfile: seccompProfile(f.seccomp.file) } : {}),
    pinned: f.joinNs !== undefined ? pinnedTypes(f.joinNs) : [],
    devices: hostDevices(f.devices, uid),
    joins,
    ...(joinedUser ? { joinedUserns: joinedUser } : {}),
  };
}

/**
 * A run's (or create's) flags and the container spec they make, with what a
 * person should be told on the way; `unmake` removes the anonymous volumes
 * made for it, for when no container comes to own them.
 */
export async function runSpecOf(v: Parsed["values"], rest: string[]): Promise<{ flags: RunFlags; spec: ContainerSpec; made: VolumeUse[]; unmake: () => Promise<unknown> }> {
  const level = v["log-level"] as string | undefined;
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`unknown log level "${level}": use one of ${LOG_LEVELS.join(", ")}`);
    setLogLevel(level as LogLevel);
  }
  const flags = runFlags(v, rest, process.env);
  if (flags.name !== undefined) validateName(flags.name);
  mark("opts");
  // Anonymous volumes this run made: they go again if no container comes to own them.
  const made: VolumeUse[] = [];
  const unmake = async () => made.length && (await import("../runtime/volume-store")).removeAnonymousVolumes(made);
  let spec;
  try {
    spec = runSpec(flags, await runHost(flags, made), cgroupsPath);
  } catch (e) {
    await unmake();
    throw e;
  }
  mark("spec");
  // bunker's own default, unlike docker's: said where a person reads it, never in a script's output.
  const silent = flags.volumes.filter(({ volume }) => !volume.explicit && volume.kind !== "volume");
  if (silent.length && isTerminal(2)) await writeErr(`bunker: notice: -v ${silent.map((v) => v.value).join(", -v ")}: read-only, as bunker mounts volumes unless :rw is given (:ro says so and silences this)\n`);
  const exposure = rootfsExposure(spec, process.geteuid?.() ?? 0);
  if (exposure) await log.warn(exposure);
  return { flags, spec, made, unmake };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, runOptions, {
    name: "run",
    description: "Run a command in a new container",
    positional: "IMAGE [COMMAND [ARG...]]  |  --rootfs DIR|--host-root [--] COMMAND [ARG...]",
    examples: EXAMPLES,
  });
  if (!parsed) return 0;
  const { flags, spec, made, unmake } = await runSpecOf(parsed.values, parsed.rest);
  const record = {
    autoRemove: flags.rm,
    detached: flags.detach,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.pin !== undefined ? { pin: flags.pin } : {}),
    ...(flags.tty ? { tty: { interactive: flags.interactive } } : {}),
    // docker's rule: without -i, nothing of the caller's input reaches the container.
    ...(!flags.tty && !flags.interactive && !flags.detach ? { noStdin: true } : {}),
    ...(!flags.sigProxy && !flags.tty ? { sigProxy: false as const } : {}),
  };
  return withCidfile(
    flags.cidfile,
    spec.bunker.id,
    async () => {
      if (record.detached) return detach(spec, record);
      const code = await runContainer(spec, record);
      // --rm took its anonymous volumes: what in them belongs to a user's other IDs goes through the helper now, not at some later rm.
      if (record.autoRemove && made.length) await (await import("../runtime/userns-helper")).sweepLeftovers();
      return code;
    },
    unmake,
  );
}

/** --cidfile around making the container: written first, and removed again (with `unmake`'s volumes) if no container came of it. */
export async function withCidfile(cidfile: string | undefined, id: string, make: () => Promise<number>, unmake: () => Promise<unknown>): Promise<number> {
  if (cidfile !== undefined) writeCidfile(cidfile, id);
  try {
    return await make();
  } catch (e) {
    // A container that was never made leaves no id behind to name it, nor volumes made for it.
    if (!containerExists(id)) {
      if (cidfile !== undefined) rmSync(cidfile, { force: true });
      await unmake();
    }
    throw e;
  }
}

/** --cidfile: the id, in a file that must not exist yet (another container may be named by it). */
function writeCidfile(path: string, id: string): void {
  try {
    writeFileSync(path, id, { flag: "wx", mode: 0o644 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new BunkerError(code === "EEXIST" ? `--cidfile ${path}: the file exists already: remove it, or is another container using it?` : `--cidfile ${path}: ${(e as Error).message.replace(/^[A-Z]+: /, "")}`);
  }
}

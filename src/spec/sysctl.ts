// Which sysctls a container may set: those of namespaces it does not share
// with the host (runc's and docker's rule), and which namespace each is of.

/** The namespace `key` belongs to, or null for one that is the whole host's. */
export function sysctlNamespace(key: string): "ipc" | "network" | "uts" | null {
  if (key.startsWith("fs.mqueue.") || /^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/.test(key)) return "ipc";
  if (key.startsWith("net.")) return "network";
  if (key === "kernel.hostname" || key === "kernel.domainname") return "uts";
  return null;
}

export const SYSCTL_NAME = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;

// What the OCI runtime spec's defaults (runc's `spec`) and docker give a
// container, written out here so that tests compare bunker against them and
// never against bunker's own constants.

/** Paths hidden from the container: an empty read-only tmpfs over a directory, /dev/null over a file. */
export const OCI_MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths the container sees read-only. */
export const OCI_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/**
 * The flags of each mount of the container's own (mountinfo's per-mount
 * options), as docker's defaults give them; a mount may have more.
 */
export const OCI_MOUNT_FLAGS: Record<string, string[]> = {
  "/proc": ["nosuid", "nodev", "noexec"],
  "/dev": ["nosuid"],
  "/dev/pts": ["nosuid", "noexec"],
  "/dev/shm": ["nosuid", "nodev", "noexec"],
  "/dev/mqueue": ["nosuid", "nodev", "noexec"],
  "/sys": ["ro", "nosuid", "nodev", "noexec"],
  "/sys/fs/cgroup": ["ro", "nosuid", "nodev", "noexec"],
};

/**
 * docker's default capabilities: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
 * SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP,
 * as the mask /proc/PID/status shows.
 */
export const DOCKER_DEFAULT_CAPS = 0xa80425fbn;

// The ways a container of an image gets its root filesystem (--storage-driver),
// in the order bunker tries them; a list of its own so that the entry point
// can offer them without loading the code that chooses.

export const ROOTFS_DRIVERS = ["overlay", "fuse-overlayfs", "copy"] as const;

#!/bin/busybox sh
# Stage 1 of the guest's init: PID 1 in the initramfs that initramfs.ts builds.
# It turns the host's root, shared read-only over virtio-9p, into a writable root (an overlay
# with a tmpfs upper, so nothing reaches the host's disk), gives it a fresh /proc, /sys, /dev,
# /run, /tmp and a pure cgroup v2 hierarchy, then switch_roots into it and runs stage2.sh.
# Files beside it: /vm/config (variables), /vm/modules (insmod order), /vm/keep (paths to keep
# visible), /vm/shares (host directories for a guest whose root is not the host's), /vm/job and
# /vm/stage2.sh (what stage 2 runs, in that order).

/bin/busybox --install -s /bin
export PATH=/bin
. /vm/config

fail() {
	# The host looks for this line on the console to tell why the VM gave no exit status.
	echo "vm-init: error: $*"
	poweroff -f
}

mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"

while IFS= read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done </vm/modules

mkdir -p /lower /rw /newroot
# cache=loose lets the guest cache the host's files: the share is read-only, and what changes on
# the host while a test runs is not something a test may rely on seeing.
mount -t 9p -o "trans=virtio,version=9p2000.L,ro,msize=$VM_MSIZE,cache=loose" hostroot /lower ||
	fail "mount the host's root (9p)"
mount -t tmpfs -o mode=0755 rw /rw || fail "mount tmpfs for the overlay"
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "mount the overlay root"
r=/newroot

# The repository (or the working directory) may live under /tmp or /run, which get fresh tmpfs
# mounts below. A second view of the overlay root, made before them, lets those paths be bound
# back on top afterwards (after, so the mount table lists them below their parents).
mkdir /view && mount --bind $r /view || fail "bind the overlay root"
while IFS= read -r p; do
	[ -d "/view$p" ] || fail "$p: no such directory in the shared root"
done </vm/keep

# Options as systemd mounts them on a Debian host, so tests see what they would see there.
mount -t proc -o nosuid,nodev,noexec proc $r/proc || fail "mount /proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs $r/sys || fail "mount /sys"
# A new devtmpfs mount (the same instance) rather than moving the initramfs's: moved, it would
# come before / in the mount table.
mount -t devtmpfs -o nosuid devtmpfs $r/dev || fail "mount /dev"
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts $r/dev/pts || fail "mount /dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm $r/dev/shm || fail "mount /dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=0755 run $r/run || fail "mount /run"
mkdir -m 1777 $r/run/lock
mount -t tmpfs -o nosuid,nodev,mode=1777 tmp $r/tmp || fail "mount /tmp"
# The kernel runs with cgroup_no_v1=all: this is the only cgroup hierarchy, as on a pure v2
# host. Controllers are left as the kernel gives them; the runtime under test enables its own.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 $r/sys/fs/cgroup ||
	fail "mount cgroup2"

while IFS= read -r p; do
	mkdir -p "$r$p" && mount --bind "/view$p" "$r$p" || fail "bind $p back"
done </vm/keep
umount /view

# A guest of another architecture boots a root made for it; the repository comes from the host's
# root, a second share, each directory at its own path under an overlay of its own (writable,
# nothing reaching the host's disk).
if [ -s /vm/shares ]; then
	mkdir /host
	mount -t 9p -o "trans=virtio,version=9p2000.L,ro,msize=$VM_MSIZE,cache=loose" hostfs /host ||
		fail "mount the host's root (9p, hostfs)"
	i=0
	while IFS= read -r p; do
		i=$((i + 1))
		mkdir -p "/rw/share$i/upper" "/rw/share$i/work" "$r$p" &&
			mount -t overlay -o "lowerdir=/host$p,upperdir=/rw/share$i/upper,workdir=/rw/share$i/work" overlay "$r$p" ||
			fail "show $p from the host"
	done </vm/shares
	# The overlays hold what they need of it.
	umount -l /host
fi

# Modules the kernel asks for later (veth, bridge, nf_tables, ...) load from the unpacked package
# through busybox's modprobe, which reads the modules.dep and modules.alias busybox depmod wrote.
# A symlink rather than a bind mount keeps the guest's mount table as a host's would be. A host
# that runs this very kernel has the same modules there already (and a modules.dep from depmod).
if [ ! -e "$r/lib/modules/$VM_RELEASE" ]; then
	mkdir -p $r/lib/modules && ln -s "$VM_MODULES" "$r/lib/modules/$VM_RELEASE" || fail "link the kernel's modules"
fi
ln -sf "$VM_BUSYBOX" $r/sbin/modprobe || fail "link /sbin/modprobe"

# Debian's kernels have this switch; rootless containers need it on.
if [ -e /proc/sys/kernel/unprivileged_userns_clone ]; then
	echo 1 >/proc/sys/kernel/unprivileged_userns_clone
fi
# As Debian's udev rules make it, so rootless pasta and slirp4netns can open it.
if [ -c $r/dev/net/tun ]; then chmod 0666 $r/dev/net/tun; fi
hostname "$VM_HOSTNAME"
ip link set lo up || fail "bring up lo"

# Stage 2 deletes its script as it starts: nothing of the harness stays in the guest's files.
cat /vm/job /vm/stage2.sh >$r/run/vm-init.sh || fail "write stage 2"
umount /sys /proc /dev
# env -i: the command's environment is only what the job file exports, nothing of the kernel's.
exec switch_root $r "$VM_BUSYBOX" env -i "$VM_BUSYBOX" sh /run/vm-init.sh

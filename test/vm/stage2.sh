# Stage 2 of the guest's init: PID 1 in the overlay root, started by init.sh with an empty
# environment, from a file that has the job (VM_* variables, vm_env, the command as "$@") in
# front of this script.
# The command's stdout and stderr go to their own virtio serial ports (not the console, where
# kernel messages would mix in, and not a tty, which would change how programs print). Each
# stream ends with VM_MARK so the host knows it has all of it; the status goes to the control
# port, and the host's acknowledgement says it is safe to power off without losing output.

bb=$VM_BUSYBOX
$bb rm -f "$0"

fail() {
	echo "vm-init: error: $*" >/dev/console
	$bb poweroff -f
}

port() {
	for d in /sys/class/virtio-ports/*; do
		name=
		read -r name 2>/dev/null <"$d/name"
		if [ "$name" = "$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

out=$(port vm.stdout) && err=$(port vm.stderr) && ctl=$(port vm.control) ||
	fail "virtio serial ports vm.stdout, vm.stderr, vm.control not found"
exec 3>"$out" 4>"$err" 5<>"$ctl" || fail "open the virtio serial ports"

# Mounts are shared on a systemd host, and runtimes must cope with that.
$bb mount --make-rshared / || fail "make / shared"
cd "$VM_CWD" || fail "cd $VM_CWD"

# Powers off on the host's acknowledgement, or at once when the host side goes away (the read
# sees end of file), so a killed harness leaves no qemu running the command to its end.
(
	read -r ack <&5
	$bb poweroff -f
) 3>&- 4>&- </dev/null &

echo start >&5
(
	vm_env
	# ash would name this script in its message.
	command -v "$1" >/dev/null || {
		echo "vm: $1: command not found" >&2
		exit 127
	}
	exec "$@"
) </dev/null >&3 2>&4 3>&- 4>&- 5>&-
status=$?
printf '%s' "$VM_MARK" >&3
printf '%s' "$VM_MARK" >&4
echo "exit $status" >&5
# The acknowledgement should come at once; should it not, stop anyway.
$bb sleep 60
$bb poweroff -f

//go:build unix && !linux

package testproc

import "syscall"

// setDeathSignal puts the child in its own process group. Only Linux can
// have the kernel kill it when the test process dies; elsewhere the
// Cleanup does it when the test ends normally.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Setpgid = true
}

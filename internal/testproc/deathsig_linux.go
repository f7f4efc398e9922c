package testproc

import "syscall"

// setDeathSignal puts the child in its own process group and has the
// kernel send it SIGKILL when the thread that started it dies.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Setpgid = true
	a.Pdeathsig = syscall.SIGKILL
}

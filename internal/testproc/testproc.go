// Package testproc starts the processes tests run (a built hookgate binary,
// the test binary itself in another role) so that none outlives its test:
// each child leads its own process group, gets SIGKILL from the kernel
// when the test process dies for any reason (Linux: Pdeathsig; this covers
// a test binary killed by its -timeout), and the test's Cleanup kills the
// whole group.
//
// Pdeathsig is tied to the OS thread that started the child, not to the
// process: a child started from a goroutine that called
// runtime.LockOSThread and then ended would be killed early. Tests here
// do not lock threads.
package testproc

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

// Command is exec.Command for a test: the child is owned (see Own).
func Command(tb testing.TB, name string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(name, args...)
	Own(tb, cmd)
	return cmd
}

// Own prepares cmd, not yet started, to die with the test: its own process
// group, SIGKILL on the test process's death, and a Cleanup that kills the
// group once the test ends (a process that already exited is left alone).
func Own(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setDeathSignal(cmd.SysProcAttr)
	tb.Cleanup(func() { Kill(cmd) })
}

// Attr returns the process attributes Own sets, for a process started
// where there is no test to clean up after (a helper role of a test
// binary).
func Attr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	setDeathSignal(a)
	return a
}

// Kill sends SIGKILL to cmd's process group, if it was started. It does
// not wait for the process; whoever calls cmd.Wait still must. It reads
// only cmd.Process, so it may run while another goroutine waits.
func Kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
		_ = cmd.Process.Kill() // not a group leader (SysProcAttr replaced after Own)
	}
}

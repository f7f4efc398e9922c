package testproc_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testproc"
)

// role is how this test binary was started: "" by go test, "parent" by
// TestChildDiesWithTest (a stand-in for a test binary that starts a child
// and is then killed by its deadline), "child" by that parent.
var role = os.Getenv("TESTPROC_ROLE")

func TestMain(m *testing.M) {
	switch role {
	case "child":
		time.Sleep(5 * time.Minute) // outlives every test unless killed
		os.Exit(0)
	case "parent":
		os.Exit(runParent())
	}
	os.Exit(m.Run())
}

// runParent starts a child the way tests do, prints its pid and waits to be
// killed.
func runParent() int {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TESTPROC_ROLE=child")
	cmd.SysProcAttr = testproc.Attr()
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("child", cmd.Process.Pid)
	time.Sleep(5 * time.Minute)
	return 0
}

// gone reports whether pid has exited (a zombie counts: it runs no code).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still running %v after its test process died", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChildDiesWithTest kills a test process with SIGKILL (as a test binary
// dies at its -timeout) and checks that the child it started dies too.
func TestChildDiesWithTest(t *testing.T) {
	parent := exec.Command(os.Args[0])
	parent.Env = append(os.Environ(), "TESTPROC_ROLE=parent")
	testproc.Own(t, parent)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- parent.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's pid: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "child %d", &pid); err != nil {
		t.Fatalf("parent said %q", line)
	}
	if gone(pid) {
		t.Fatalf("child %d is not running before its parent dies", pid)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited
	waitGone(t, pid, 5*time.Second)
}

// TestCleanupKillsChild checks that a child still running when its test
// ends is killed by the test's Cleanup.
func TestCleanupKillsChild(t *testing.T) {
	var pid int
	t.Run("starts", func(t *testing.T) {
		cmd := testproc.Command(t, os.Args[0])
		cmd.Env = append(os.Environ(), "TESTPROC_ROLE=child")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }()
		pid = cmd.Process.Pid
	})
	if pid == 0 {
		t.Fatal("no child started")
	}
	waitGone(t, pid, 5*time.Second)
}

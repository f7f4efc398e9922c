package loadgen

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size, not other metadata).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

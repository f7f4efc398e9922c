package local

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and size (not its other metadata) to disk.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

package local

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and size (not its other metadata) to disk.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// syncDir makes the names in directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

//go:build !linux

package local

import "os"

// fdatasync is fsync where fdatasync does not exist.
func fdatasync(f *os.File) error { return f.Sync() }

// syncDir makes the names in directory dir durable where a directory can
// be synced; elsewhere (Windows) it does nothing.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	_ = d.Sync()
	return d.Close()
}

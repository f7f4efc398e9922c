//go:build !linux

package local

import "os"

// fdatasync is fsync where fdatasync does not exist.
func fdatasync(f *os.File) error { return f.Sync() }

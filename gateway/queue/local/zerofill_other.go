//go:build !linux

package local

// zeroFile writes size zero bytes at the start of the file at path and
// syncs them (through the page cache: O_DIRECT is Linux's).
func zeroFile(path string, size int64, stop <-chan struct{}) error {
	return zeroBuffered(path, size, stop)
}

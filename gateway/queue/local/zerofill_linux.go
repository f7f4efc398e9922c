package local

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// zeroFile writes size zero bytes at the start of the file at path and
// syncs them, bypassing the page cache (O_DIRECT): half the CPU of
// buffered writes, and no page cache filled with zeros that the log then
// overwrites. stop is checked between writes; it returns errStopped when
// it fires. Where O_DIRECT is refused (tmpfs, some filesystems), it writes
// through the page cache.
func zeroFile(path string, size int64, stop <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return zeroBuffered(path, size, stop)
	}
	defer f.Close()
	// O_DIRECT needs a buffer, offsets and lengths aligned to the logical
	// block size: 4 KiB covers every disk in use.
	raw := make([]byte, zeroChunk+walPage)
	buf := raw[walPage-int(uintptr(unsafe.Pointer(&raw[0]))%walPage):][:zeroChunk]
	if err := writeZeros(f, buf, roundUp(size, walPage), stop); err != nil {
		if err == errStopped {
			return err
		}
		_ = f.Close()
		return zeroBuffered(path, size, stop)
	}
	return fdatasync(f)
}

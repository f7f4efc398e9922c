//go:build !linux

package local

import "errors"

// releaseMapped does nothing outside Linux: the resident set is then left
// to the kernel.
func (s *Store) releaseMapped() error { return nil }

// residentFileBytes is not known outside Linux.
func residentFileBytes() (int64, error) {
	return 0, errors.New("local: resident file-backed memory is only known on Linux")
}

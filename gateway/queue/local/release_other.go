//go:build !linux

package local

// releaseMapped does nothing outside Linux: the resident set is then left
// to the kernel.
func (s *Store) releaseMapped() error { return nil }

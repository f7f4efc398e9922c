//go:build !unix

package enroll

// lock is a no-op where flock is not available: concurrent enroll and
// rotate runs on such systems must be avoided by the operator.
func lock(path string) (unlock func(), err error) {
	return func() {}, nil
}

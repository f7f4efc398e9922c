package queue

import (
	"errors"
	"fmt"
)

// Size limits of the plugin key-value store, the same in every backend.
const (
	MaxKVKeyLen   = 1024     // bytes of a namespace or a key
	MaxKVValueLen = 64 << 10 // bytes of a value
)

// Default quota of one namespace (one plugin) of the key-value store: far
// more than a plugin remembering what it did per commit or merge request
// keeps in years, far less than what fills a disk.
const (
	DefaultKVMaxKeys  = 100_000
	DefaultKVMaxBytes = 64 << 20
)

// Errors of the plugin key-value store; backends return them wrapped.
var (
	// ErrKVKey: a namespace or key is empty or longer than MaxKVKeyLen.
	ErrKVKey = errors.New("kv: namespace and key must be 1 to 1024 bytes")
	// ErrKVValue: a value is longer than MaxKVValueLen.
	ErrKVValue = errors.New("kv: value larger than 64 KiB")
	// ErrKVQuota: a put would take a namespace past its KVQuota. Backends
	// return a *KVQuotaError, which wraps it.
	ErrKVQuota = errors.New("kv: quota exceeded")
)

// CheckKV returns ErrKVKey unless ns and key are both 1 to MaxKVKeyLen
// bytes long.
func CheckKV(ns, key string) error {
	if len(ns) == 0 || len(ns) > MaxKVKeyLen || len(key) == 0 || len(key) > MaxKVKeyLen {
		return ErrKVKey
	}
	return nil
}

// CheckKVValue returns ErrKVValue when value is longer than MaxKVValueLen.
func CheckKVValue(value []byte) error {
	if len(value) > MaxKVValueLen {
		return ErrKVValue
	}
	return nil
}

// KVQuota bounds what one namespace (one plugin) keeps in the key-value
// store: how many keys, and how many bytes of keys and values together. A
// put that would take the namespace past either fails with a
// *KVQuotaError; puts that do not grow it (replacing a value by one no
// longer) and deletes always pass, so a namespace over a lowered quota can
// shrink back.
type KVQuota struct {
	MaxKeys  int
	MaxBytes int64
}

// WithDefaults fills the zero fields with DefaultKVMaxKeys and
// DefaultKVMaxBytes; negative fields mean no limit (0 after the call).
func (q KVQuota) WithDefaults() KVQuota {
	switch {
	case q.MaxKeys == 0:
		q.MaxKeys = DefaultKVMaxKeys
	case q.MaxKeys < 0:
		q.MaxKeys = 0
	}
	switch {
	case q.MaxBytes == 0:
		q.MaxBytes = DefaultKVMaxBytes
	case q.MaxBytes < 0:
		q.MaxBytes = 0
	}
	return q
}

// KVUsage is what a namespace holds.
type KVUsage struct {
	Keys  int
	Bytes int64 // of keys and values
}

// Put returns u after key is set to a value of n bytes, old being the size
// of its current value (-1 when the key is not set).
func (u KVUsage) Put(key string, old, n int) KVUsage {
	if old < 0 {
		u.Keys++
		u.Bytes += int64(len(key))
		old = 0
	}
	u.Bytes += int64(n - old)
	return u
}

// Delete returns u after key, with a value of old bytes, is removed.
func (u KVUsage) Delete(key string, old int) KVUsage {
	u.Keys--
	u.Bytes -= int64(len(key) + old)
	return u
}

// Check returns a *KVQuotaError when going from usage before to after
// grows the namespace past q (whose zero fields mean no limit).
func (q KVQuota) Check(before, after KVUsage) error {
	if q.MaxKeys > 0 && after.Keys > before.Keys && after.Keys > q.MaxKeys {
		return &KVQuotaError{Units: "keys", Want: int64(after.Keys), Max: int64(q.MaxKeys)}
	}
	if q.MaxBytes > 0 && after.Bytes > before.Bytes && after.Bytes > q.MaxBytes {
		return &KVQuotaError{Units: "bytes", Want: after.Bytes, Max: q.MaxBytes}
	}
	return nil
}

// KVQuotaError is a put refused by a namespace's quota: it would have
// held Want keys or bytes, more than Max.
type KVQuotaError struct {
	Units     string // "keys", "bytes" (of keys and values)
	Want, Max int64
}

func (e *KVQuotaError) Error() string {
	return fmt.Sprintf("kv: quota exceeded: %d %s (max %d)", e.Want, e.Units, e.Max)
}

func (e *KVQuotaError) Unwrap() error { return ErrKVQuota }

package queue

import "errors"

// Size limits of the plugin key-value store, the same in every backend.
const (
	MaxKVKeyLen   = 1024     // bytes of a namespace or a key
	MaxKVValueLen = 64 << 10 // bytes of a value
)

// Errors of the plugin key-value store; backends return them wrapped.
var (
	// ErrKVKey: a namespace or key is empty or longer than MaxKVKeyLen.
	ErrKVKey = errors.New("kv: namespace and key must be 1 to 1024 bytes")
	// ErrKVValue: a value is longer than MaxKVValueLen.
	ErrKVValue = errors.New("kv: value larger than 64 KiB")
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

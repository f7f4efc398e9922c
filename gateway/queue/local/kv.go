package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Size limits of the plugin key-value store.
const (
	MaxKVKeyLen   = 1024     // bytes of a namespace or a key
	MaxKVValueLen = 64 << 10 // bytes of a value
)

// Errors of the plugin key-value store, returned wrapped.
var (
	// ErrKVKey: a namespace or key is empty or longer than MaxKVKeyLen.
	ErrKVKey = errors.New("local: kv: namespace and key must be 1 to 1024 bytes")
	// ErrKVValue: a value is longer than MaxKVValueLen.
	ErrKVValue = errors.New("local: kv: value larger than 64 KiB")
)

// The key-value store gives each Lua plugin (namespace ns, e.g. the plugin
// name) its own keys, stored in the same file as the queue, in a nested
// bucket per namespace. Writes go through the writer and are fsynced
// before they return, like every other write.

func checkKV(ns, key string) error {
	if len(ns) == 0 || len(ns) > MaxKVKeyLen || len(key) == 0 || len(key) > MaxKVKeyLen {
		return ErrKVKey
	}
	return nil
}

// KVGet returns the value of key in namespace ns, and whether it exists.
// The value is a copy the caller may keep.
func (s *Store) KVGet(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if err := checkKV(ns, key); err != nil {
		return nil, false, fmt.Errorf("local: kv get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var val []byte
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV).Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().Seek([]byte(key))
		if k != nil && v != nil && bytes.Equal(k, []byte(key)) {
			val, found = append([]byte{}, v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("local: kv get %s: %w", ns, err)
	}
	return val, found, nil
}

// KVPut stores value under key in namespace ns, replacing any old value.
// Errors: ErrKVKey, ErrKVValue.
func (s *Store) KVPut(ctx context.Context, ns, key string, value []byte) error {
	if err := checkKV(ns, key); err != nil {
		return fmt.Errorf("local: kv put: %w", err)
	}
	if len(value) > MaxKVValueLen {
		return fmt.Errorf("local: kv put: %w", ErrKVValue)
	}
	o := &kvOp{ns: []byte(ns), key: []byte(key), value: bytes.Clone(value), put: true}
	if o.value == nil {
		o.value = []byte{}
	}
	if err := s.do(ctx, o); err != nil {
		return fmt.Errorf("local: kv put %s: %w", ns, err)
	}
	return nil
}

// KVDelete removes key from namespace ns; a missing key is not an error.
// Errors: ErrKVKey.
func (s *Store) KVDelete(ctx context.Context, ns, key string) error {
	if err := checkKV(ns, key); err != nil {
		return fmt.Errorf("local: kv delete: %w", err)
	}
	if err := s.do(ctx, &kvOp{ns: []byte(ns), key: []byte(key)}); err != nil {
		return fmt.Errorf("local: kv delete %s: %w", ns, err)
	}
	return nil
}

type kvOp struct {
	done
	ns, key, value []byte
	put            bool
}

func (o *kvOp) apply(w *wtx) error {
	kv := w.bucket(bucketKV)
	if !o.put {
		b := kv.Bucket(o.ns)
		if b == nil {
			return nil
		}
		if err := b.Delete(o.key); err != nil {
			return fmt.Errorf("kv delete: %w", err)
		}
		return nil
	}
	b, err := kv.CreateBucketIfNotExists(o.ns)
	if err != nil {
		return fmt.Errorf("kv namespace: %w", err)
	}
	if err := b.Put(o.key, o.value); err != nil {
		return fmt.Errorf("kv put: %w", err)
	}
	return nil
}

var _ waiter = (*kvOp)(nil)

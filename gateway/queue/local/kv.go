package local

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// The key-value store gives each Lua plugin (namespace ns, e.g. the plugin
// name) its own keys, stored in the same file as the queue, in a nested
// bucket per namespace. Writes go through the writer and are fsynced
// before they return, like every other write.

// KVGet returns the value of key in namespace ns, and whether it exists.
// The value is a copy the caller may keep.
func (s *Store) KVGet(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if err := queue.CheckKV(ns, key); err != nil {
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
// Errors: queue.ErrKVKey, queue.ErrKVValue.
func (s *Store) KVPut(ctx context.Context, ns, key string, value []byte) error {
	if err := queue.CheckKV(ns, key); err != nil {
		return fmt.Errorf("local: kv put: %w", err)
	}
	if err := queue.CheckKVValue(value); err != nil {
		return fmt.Errorf("local: kv put: %w", err)
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
// Errors: queue.ErrKVKey.
func (s *Store) KVDelete(ctx context.Context, ns, key string) error {
	if err := queue.CheckKV(ns, key); err != nil {
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

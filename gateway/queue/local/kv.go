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
//
// Each namespace is held to Options.KVQuota. Its usage (keys, bytes of
// keys and values) is not stored: the writer counts a namespace's bucket
// the first time a transaction writes to it, keeps the count in memory
// (Store.kvUsage) and brings it up to date after each commit, so the check
// is exact, also between puts of one group commit, and nothing in the file
// can drift from the keys themselves.

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
// Errors: queue.ErrKVKey, queue.ErrKVValue, a *queue.KVQuotaError (wrapping
// queue.ErrKVQuota) when the put would take ns past Options.KVQuota.
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
	b := kv.Bucket(o.ns)
	before := w.kvUsage(o.ns, b)
	old := -1 // size of the current value, -1 for none
	if b != nil {
		if k, v := b.Cursor().Seek(o.key); k != nil && v != nil && bytes.Equal(k, o.key) {
			old = len(v)
		}
	}
	if !o.put {
		if old < 0 {
			return nil
		}
		if err := b.Delete(o.key); err != nil {
			return fmt.Errorf("kv delete: %w", err)
		}
		w.kv[string(o.ns)] = before.Delete(string(o.key), old)
		return nil
	}
	after := before.Put(string(o.key), old, len(o.value))
	if err := w.s.opts.KVQuota.Check(before, after); err != nil {
		return refuse(err)
	}
	if b == nil {
		var err error
		if b, err = kv.CreateBucket(o.ns); err != nil {
			return fmt.Errorf("kv namespace: %w", err)
		}
	}
	if err := b.Put(o.key, o.value); err != nil {
		return fmt.Errorf("kv put: %w", err)
	}
	w.kv[string(o.ns)] = after
	return nil
}

// kvUsage is namespace ns's usage as of this transaction: what it set
// before, else the store's count after the last commit, else a count of
// b (nil: an empty namespace).
func (w *wtx) kvUsage(ns []byte, b *bolt.Bucket) queue.KVUsage {
	if u, ok := w.kv[string(ns)]; ok {
		return u
	}
	if w.kv == nil {
		w.kv = map[string]queue.KVUsage{}
	}
	u, ok := w.s.kvUsage[string(ns)]
	if !ok && b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if v != nil { // nil: a nested bucket, which kv never makes
				u.Keys++
				u.Bytes += int64(len(k) + len(v))
			}
			return nil
		})
	}
	w.kv[string(ns)] = u
	return u
}

// commitKVUsage keeps the usage of the namespaces a committed transaction
// wrote to. Only the writer calls it.
func (s *Store) commitKVUsage(w *wtx) {
	for ns, u := range w.kv {
		s.kvUsage[ns] = u
	}
}

var _ waiter = (*kvOp)(nil)

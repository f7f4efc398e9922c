package natsq

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// The plugins' key-value store is the bucket S_kv, shared by every
// replica: a value written by a plugin on one replica is read by the next
// run on any other. Each write is acknowledged by JetStream (replicated
// when Replicas > 1) before it returns. There is no transaction across
// keys and no compare-and-set in the plugin API: two runs writing one key
// at once, last write wins (the same as two workers of one process).

// KVGet returns the value of key in namespace ns, and whether it exists.
func (s *Store) KVGet(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if err := queue.CheckKV(ns, key); err != nil {
		return nil, false, fmt.Errorf("natsq: kv get: %w", err)
	}
	leave, err := s.enter()
	if err != nil {
		return nil, false, fmt.Errorf("natsq: kv get: %w", err)
	}
	defer leave()
	e, err := s.pluginKV.Get(ctx, pluginKey(ns, key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("natsq: kv get %s: %w", ns, err)
	}
	return bytes.Clone(e.Value()), true, nil
}

// KVPut stores value under key in namespace ns, replacing any old value.
// Errors: queue.ErrKVKey, queue.ErrKVValue.
func (s *Store) KVPut(ctx context.Context, ns, key string, value []byte) error {
	if err := queue.CheckKV(ns, key); err != nil {
		return fmt.Errorf("natsq: kv put: %w", err)
	}
	if err := queue.CheckKVValue(value); err != nil {
		return fmt.Errorf("natsq: kv put: %w", err)
	}
	leave, err := s.enter()
	if err != nil {
		return fmt.Errorf("natsq: kv put: %w", err)
	}
	defer leave()
	if value == nil {
		value = []byte{}
	}
	if _, err := s.pluginKV.Put(ctx, pluginKey(ns, key), value); err != nil {
		return fmt.Errorf("natsq: kv put %s: %w", ns, err)
	}
	return nil
}

// KVDelete removes key from namespace ns; a missing key is not an error.
// Errors: queue.ErrKVKey.
func (s *Store) KVDelete(ctx context.Context, ns, key string) error {
	if err := queue.CheckKV(ns, key); err != nil {
		return fmt.Errorf("natsq: kv delete: %w", err)
	}
	leave, err := s.enter()
	if err != nil {
		return fmt.Errorf("natsq: kv delete: %w", err)
	}
	defer leave()
	// Purge, not Delete: no history is kept, so nothing is left behind.
	if err := s.pluginKV.Purge(ctx, pluginKey(ns, key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("natsq: kv delete %s: %w", ns, err)
	}
	return nil
}

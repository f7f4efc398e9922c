package natsq

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// The plugins' key-value store is the bucket S_kv, shared by every
// replica: a value written by a plugin on one replica is read by the next
// run on any other. Each write is acknowledged by JetStream (replicated
// when Replicas > 1) before it returns. There is no transaction across
// keys and no compare-and-set in the plugin API: two runs writing one key
// at once, last write wins (the same as two workers of one process).
//
// Quota. Each namespace has a usage entry, usageKey(ns) = {"keys": N,
// "bytes": M} (bytes of keys and values), counted from its keys when
// first needed. A put reads the key and the usage entry, checks the
// quota, reserves the growth by a compare-and-set of the usage entry, then
// writes the value by a compare-and-set on the key's revision; if the key
// changed meanwhile it gives the reservation back and starts again. A
// delete purges the key (compare-and-set), then takes it off the usage.
// So concurrent writers on any replicas are counted exactly; a replica
// dying between the two writes leaves the usage too high by that one
// value (never too low). When a put is refused, the namespace is counted
// again from its keys (at most once a minute per namespace and replica),
// which puts such a leftover right.

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
// Errors: queue.ErrKVKey, queue.ErrKVValue, a *queue.KVQuotaError (wrapping
// queue.ErrKVQuota) when the put would take ns past Options.KVQuota.
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
	if err := s.putWithQuota(ctx, ns, key, value); err != nil {
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
	if err := s.deleteCounted(ctx, ns, key); err != nil {
		return fmt.Errorf("natsq: kv delete %s: %w", ns, err)
	}
	return nil
}

// casAttempts bounds the compare-and-set rounds of one put or delete.
const casAttempts = 32

// recountEvery is how often a namespace whose puts are refused may be
// counted again from its keys.
const recountEvery = time.Minute

var errContention = errors.New("kv: too many concurrent writes to the namespace, try again")

// putWithQuota writes value under key when ns's quota allows it (see the
// file's comment).
func (s *Store) putWithQuota(ctx context.Context, ns, key string, value []byte) error {
	pk := pluginKey(ns, key)
	for range casAttempts {
		old, rev := -1, uint64(0) // no value yet
		e, err := s.pluginKV.Get(ctx, pk)
		switch {
		case err == nil:
			old, rev = len(e.Value()), e.Revision()
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return err
		}
		before, urev, err := s.kvUsage(ctx, ns)
		if err != nil {
			return err
		}
		after := before.Put(key, old, len(value))
		if qerr := s.opts.KVQuota.Check(before, after); qerr != nil {
			if s.recount(ctx, ns, urev) {
				continue
			}
			return qerr
		}
		if _, err := s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(after), urev); err != nil {
			if casConflict(err) {
				continue
			}
			return err
		}
		// Create also takes a key whose last entry is a purge.
		if rev == 0 {
			_, err = s.pluginKV.Create(ctx, pk, value)
		} else {
			_, err = s.pluginKV.Update(ctx, pk, value, rev)
		}
		if err == nil {
			return nil
		}
		// Not written: give the reservation back.
		if aerr := s.adjustUsage(ctx, ns, before.Keys-after.Keys, before.Bytes-after.Bytes); aerr != nil {
			return errors.Join(err, aerr)
		}
		if !casConflict(err) {
			return err
		}
	}
	return errContention
}

// deleteCounted purges key and takes it off ns's usage.
func (s *Store) deleteCounted(ctx context.Context, ns, key string) error {
	pk := pluginKey(ns, key)
	for range casAttempts {
		e, err := s.pluginKV.Get(ctx, pk)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// Purge, not Delete: no history is kept, so nothing is left behind.
		if err := s.pluginKV.Purge(ctx, pk, jetstream.LastRevision(e.Revision())); err != nil {
			if casConflict(err) {
				continue
			}
			return err
		}
		return s.adjustUsage(ctx, ns, -1, -int64(len(key)+len(e.Value())))
	}
	return errContention
}

// kvUsage returns ns's usage entry and its revision, counting the
// namespace's keys and storing the entry when there is none.
func (s *Store) kvUsage(ctx context.Context, ns string) (queue.KVUsage, uint64, error) {
	for range casAttempts {
		e, err := s.pluginKV.Get(ctx, usageKey(ns))
		if err == nil {
			u, err := decodeUsage(e.Value())
			return u, e.Revision(), err
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return queue.KVUsage{}, 0, err
		}
		u, err := s.countNamespace(ctx, ns)
		if err != nil {
			return queue.KVUsage{}, 0, err
		}
		rev, err := s.pluginKV.Create(ctx, usageKey(ns), encodeUsage(u))
		if err == nil {
			return u, rev, nil
		}
		if !casConflict(err) {
			return queue.KVUsage{}, 0, err
		}
	}
	return queue.KVUsage{}, 0, errContention
}

// adjustUsage adds keys and bytes to ns's usage entry, if it has one (a
// namespace without one is counted from its keys when next needed).
func (s *Store) adjustUsage(ctx context.Context, ns string, keys int, bytes int64) error {
	for range casAttempts {
		e, err := s.pluginKV.Get(ctx, usageKey(ns))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		u, err := decodeUsage(e.Value())
		if err != nil {
			return err
		}
		u.Keys = max(u.Keys+keys, 0)
		u.Bytes = max(u.Bytes+bytes, 0)
		if _, err := s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(u), e.Revision()); !casConflict(err) {
			return err
		}
	}
	return errContention
}

// recount counts ns from its keys and stores that as its usage, unless it
// did so less than recountEvery ago or the entry changed since revision
// urev. It reports whether the caller should look again.
func (s *Store) recount(ctx context.Context, ns string, urev uint64) bool {
	s.recountMu.Lock()
	last, ok := s.recounted[ns]
	if ok && s.now().Sub(last) < recountEvery {
		s.recountMu.Unlock()
		return false
	}
	if s.recounted == nil {
		s.recounted = map[string]time.Time{}
	}
	s.recounted[ns] = s.now()
	s.recountMu.Unlock()
	u, err := s.countNamespace(ctx, ns)
	if err != nil {
		return false
	}
	_, err = s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(u), urev)
	return err == nil || casConflict(err)
}

// countNamespace counts ns's keys and the bytes of its keys and values.
func (s *Store) countNamespace(ctx context.Context, ns string) (queue.KVUsage, error) {
	prefix := pluginPrefix(ns)
	w, err := s.pluginKV.WatchFiltered(ctx, []string{prefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return queue.KVUsage{}, err
	}
	defer func() { _ = w.Stop() }()
	var u queue.KVUsage
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // the current values are all in
				return u, nil
			}
			key, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(e.Key(), prefix))
			if err != nil {
				continue // not a plugin key
			}
			u.Keys++
			u.Bytes += int64(len(key) + len(e.Value()))
		case <-ctx.Done():
			return queue.KVUsage{}, ctx.Err()
		}
	}
}

// casConflict reports whether err is a lost compare-and-set.
func casConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

type usageEntry struct {
	Keys  int   `json:"keys"`
	Bytes int64 `json:"bytes"`
}

func encodeUsage(u queue.KVUsage) []byte {
	b, _ := json.Marshal(usageEntry{Keys: u.Keys, Bytes: u.Bytes})
	return b
}

func decodeUsage(b []byte) (queue.KVUsage, error) {
	var e usageEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return queue.KVUsage{}, fmt.Errorf("kv usage entry: %w", err)
	}
	return queue.KVUsage{Keys: e.Keys, Bytes: e.Bytes}, nil
}

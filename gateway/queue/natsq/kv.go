package natsq

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
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
// which puts such a leftover right. Within a replica the reservations in
// one namespace take turns (kvNamespace), so compare-and-sets of the usage
// entry are lost only to other replicas.

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

// kvNamespace is what a replica knows of one namespace: its usage entry
// as this replica last read or wrote it (rev 0: read it again), so a
// reservation usually costs one compare-and-set. mu is held around
// reservations only (not around reading or writing values), so the
// workers of one replica take turns on the usage entry instead of losing
// compare-and-sets to each other.
type kvNamespace struct {
	mu        sync.Mutex
	usage     queue.KVUsage
	rev       uint64
	recounted time.Time
}

// namespace returns the replica's state of ns.
func (s *Store) namespace(ns string) *kvNamespace {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	st, ok := s.kvNS[ns]
	if !ok {
		if s.kvNS == nil {
			s.kvNS = map[string]*kvNamespace{}
		}
		st = &kvNamespace{}
		s.kvNS[ns] = st
	}
	return st
}

// putWithQuota writes value under key when ns's quota allows it (see the
// file's comment).
func (s *Store) putWithQuota(ctx context.Context, ns, key string, value []byte) error {
	st := s.namespace(ns)
	pk := pluginKey(ns, key)
	for attempt := range casAttempts {
		if err := pause(ctx, attempt); err != nil {
			return err
		}
		old, rev := -1, uint64(0) // no value yet
		e, err := s.pluginKV.Get(ctx, pk)
		switch {
		case err == nil:
			old, rev = len(e.Value()), e.Revision()
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return err
		}
		growth, err := s.reserve(ctx, ns, st, key, old, len(value))
		if err != nil {
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
		// Not written (the key changed since it was read): give the
		// reservation back, and start again.
		if aerr := s.adjustUsage(ctx, ns, st, -growth.Keys, -growth.Bytes); aerr != nil {
			return errors.Join(err, aerr)
		}
		if !casConflict(err) {
			return err
		}
	}
	return errContention
}

// reserve adds to ns's usage entry what setting key (old: the size of its
// value, -1 for none) to n bytes adds, if the quota allows it, and
// returns that growth.
func (s *Store) reserve(ctx context.Context, ns string, st *kvNamespace, key string, old, n int) (queue.KVUsage, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for attempt := range casAttempts {
		if err := pause(ctx, attempt); err != nil {
			return queue.KVUsage{}, err
		}
		fresh := st.rev == 0
		if fresh {
			if err := s.readUsage(ctx, ns, st, true); err != nil {
				return queue.KVUsage{}, err
			}
		}
		before := st.usage
		after := before.Put(key, old, n)
		if qerr := s.opts.KVQuota.Check(before, after); qerr != nil {
			switch {
			case !fresh: // another replica may have made room
				st.rev = 0
			case s.recount(ctx, ns, st):
			default:
				return queue.KVUsage{}, qerr
			}
			continue
		}
		rev, err := s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(after), st.rev)
		if err == nil {
			st.usage, st.rev = after, rev
			return queue.KVUsage{Keys: after.Keys - before.Keys, Bytes: after.Bytes - before.Bytes}, nil
		}
		st.rev = 0
		if !casConflict(err) {
			return queue.KVUsage{}, err
		}
	}
	return queue.KVUsage{}, errContention
}

// deleteCounted purges key and takes it off ns's usage.
func (s *Store) deleteCounted(ctx context.Context, ns, key string) error {
	pk := pluginKey(ns, key)
	for attempt := range casAttempts {
		if err := pause(ctx, attempt); err != nil {
			return err
		}
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
		return s.adjustUsage(ctx, ns, s.namespace(ns), -1, -int64(len(key)+len(e.Value())))
	}
	return errContention
}

// pause waits before compare-and-set round attempt (none before the
// first): a little longer each time, with jitter, so replicas writing one
// namespace at once drift apart.
func pause(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	d := time.Duration(1+rand.N(min(attempt, 8))) * time.Millisecond
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readUsage reads ns's usage entry into st (whose mu the caller holds). A namespace without one is
// counted from its keys and the count stored when create is set;
// otherwise st is left at zero usage and revision.
func (s *Store) readUsage(ctx context.Context, ns string, st *kvNamespace, create bool) error {
	for range casAttempts {
		e, err := s.pluginKV.Get(ctx, usageKey(ns))
		if err == nil {
			u, err := decodeUsage(e.Value())
			if err != nil {
				return err
			}
			st.usage, st.rev = u, e.Revision()
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		if !create {
			st.usage, st.rev = queue.KVUsage{}, 0
			return nil
		}
		u, err := s.countNamespace(ctx, ns)
		if err != nil {
			return err
		}
		rev, err := s.pluginKV.Create(ctx, usageKey(ns), encodeUsage(u))
		if err == nil {
			st.usage, st.rev = u, rev
			return nil
		}
		if !casConflict(err) {
			return err
		}
	}
	return errContention
}

// adjustUsage adds keys and bytes to ns's usage entry, if it has one (a
// namespace without one is counted from its keys when next needed).
func (s *Store) adjustUsage(ctx context.Context, ns string, st *kvNamespace, keys int, bytes int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for attempt := range casAttempts {
		if err := pause(ctx, attempt); err != nil {
			return err
		}
		if st.rev == 0 {
			if err := s.readUsage(ctx, ns, st, false); err != nil {
				return err
			}
			if st.rev == 0 {
				return nil
			}
		}
		u := st.usage
		u.Keys = max(u.Keys+keys, 0)
		u.Bytes = max(u.Bytes+bytes, 0)
		rev, err := s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(u), st.rev)
		if err == nil {
			st.usage, st.rev = u, rev
			return nil
		}
		st.rev = 0
		if !casConflict(err) {
			return err
		}
	}
	return errContention
}

// recount counts ns from its keys and stores that as its usage, unless it
// did so less than recountEvery ago. It reports whether the caller should
// look again. The caller holds st.mu.
func (s *Store) recount(ctx context.Context, ns string, st *kvNamespace) bool {
	if !st.recounted.IsZero() && s.now().Sub(st.recounted) < recountEvery {
		return false
	}
	st.recounted = s.now()
	u, err := s.countNamespace(ctx, ns)
	if err != nil {
		return false
	}
	rev, err := s.pluginKV.Update(ctx, usageKey(ns), encodeUsage(u), st.rev)
	if err == nil {
		st.usage, st.rev = u, rev
		return true
	}
	st.rev = 0
	return casConflict(err)
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

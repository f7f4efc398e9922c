package plugintest

import (
	"context"
	"maps"
	"sync"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins"
)

// MemKV is an in-memory plugins.KV, the default store of the kv module in
// a Harness. Its puts are held to a per-plugin quota as the gateway's
// stores are (queue.DefaultKVMaxKeys and DefaultKVMaxBytes unless
// SetQuota says otherwise). It is safe for concurrent use.
type MemKV struct {
	mu    sync.Mutex
	data  map[string]map[string]string // namespace (plugin) -> key -> value
	quota queue.KVQuota
}

var _ plugins.KV = (*MemKV)(nil)

// NewMemKV returns an empty store.
func NewMemKV() *MemKV {
	return &MemKV{data: map[string]map[string]string{}, quota: queue.KVQuota{}.WithDefaults()}
}

// SetQuota sets the per-plugin quota puts are held to (zero fields: the
// defaults; negative: no limit), e.g. to test how a plugin copes with a
// full store.
func (m *MemKV) SetQuota(q queue.KVQuota) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quota = q.WithDefaults()
}

// KVGet implements plugins.KV.
func (m *MemKV) KVGet(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[ns][key]
	if !ok {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

// KVPut implements plugins.KV, refusing a put past the quota with a
// *queue.KVQuotaError.
func (m *MemKV) KVPut(ctx context.Context, ns, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var before queue.KVUsage
	for k, v := range m.data[ns] {
		before = before.Put(k, -1, len(v))
	}
	old := -1
	if v, ok := m.data[ns][key]; ok {
		old = len(v)
	}
	if err := m.quota.Check(before, before.Put(key, old, len(value))); err != nil {
		return err
	}
	if m.data[ns] == nil {
		m.data[ns] = map[string]string{}
	}
	m.data[ns][key] = string(value)
	return nil
}

// KVDelete implements plugins.KV.
func (m *MemKV) KVDelete(ctx context.Context, ns, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data[ns], key)
	return nil
}

// Set stores a value for plugin ns, e.g. to seed state before a run.
func (m *MemKV) Set(ns, key, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data[ns] == nil {
		m.data[ns] = map[string]string{}
	}
	m.data[ns][key] = value
}

// Get returns the value plugin ns stored under key.
func (m *MemKV) Get(ns, key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[ns][key]
	return v, ok
}

// Keys returns a copy of everything plugin ns stored.
func (m *MemKV) Keys(ns string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.data[ns])
}

package plugins

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
)

// TestKVQuota: a plugin filling the kv store meets its quota (keys, bytes
// of keys and values) with a final error that says which, other plugins
// keep their own quota, and a plugin over quota can still shrink. Before
// quotas, one run stored 64 KiB values until its deadline (337 MB).
func TestKVQuota(t *testing.T) {
	store, err := local.Open(filepath.Join(t.TempDir(), "q.db"), local.Options{
		Logger:  quietLogger(),
		KVQuota: queue.KVQuota{MaxKeys: 10, MaxBytes: 200 << 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fill := `function handle(e, p)
  local v = ("v"):rep(p.size)
  for i = 1, 1e6 do kv.set("k" .. i, v) end
end`
	s := mustLoad(t, map[string]string{
		"bytes":  fill,
		"keys":   fill,
		"shrink": `function handle() kv.set("k1", "small") kv.delete("k2") kv.set("new", "x") return kv.get("k1") end`,
	}, Options{KV: store})
	ctx := context.Background()
	for name, c := range map[string]struct {
		size int
		err  string
	}{
		"bytes": {65536, "bytes.lua:3: kv.set: over the plugin's quota: 262152 bytes (max 204800)"},
		"keys":  {10, "keys.lua:3: kv.set: over the plugin's quota: 11 keys (max 10)"},
	} {
		r := s.Run(ctx, name, nil, map[string]any{"size": c.size})
		if r.Status != StatusError || errText(r.Err) != c.err {
			t.Errorf("%s: %s %q, want error %q", name, r.Status, errText(r.Err), c.err)
		}
	}
	// "shrink" runs in the namespace "bytes" filled: the same store,
	// another name, so its own quota is untouched.
	if r := s.Run(ctx, "shrink", nil, nil); r.Status != StatusOK {
		t.Errorf("another plugin: %s %v", r.Status, r.Err)
	}
	// The plugin at its byte quota (3 values of 64 KiB) may replace a
	// value by a smaller one and delete one; that makes room for two
	// values, not three.
	shrink := mustLoad(t, map[string]string{"bytes": `function handle()
  kv.set("k1", "small")
  kv.delete("k2")
  local v = ("v"):rep(65536)
  for i = 5, 9 do
    local ok, err = pcall(kv.set, "k" .. i, v)
    if not ok then return { stored = i - 5, err = tostring(err), k1 = kv.get("k1") } end
  end
end`}, Options{KV: store})
	r := shrink.Run(ctx, "bytes", nil, nil)
	if want := `{"err":"bytes.lua:6: kv.set: over the plugin's quota: 262159 bytes (max 204800)","k1":"small","stored":2}`; r.Status != StatusOK || string(r.Value) != want {
		t.Errorf("shrinking at the quota: %s %s %v\nwant %s", r.Status, r.Value, r.Err, want)
	}
}

package plugins

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func TestLogModule(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := mustLoad(t, map[string]string{
		"p": `function handle(e)
  log.debug("d")
  log.info("building", { mr = e.merge_request.iid, chroots = { "a", "b" }, nested = { ok = true } })
  log.warn(42)
  log.error("failed", nil)
end`,
		"many":   `function handle() for i = 1, 1005 do log.info("line " .. i) end end`,
		"long":   `function handle() log.info(string.rep("é", 5000)) end`,
		"badfld": `function handle() log.info("x", { f = print or function() end }) end`,
		"event":  `function handle(e) log.info("event", { event = e }) end`,
	}, Options{Logger: logger})
	env := noteEnvelope(t)
	r := s.Run(context.Background(), "p", env, nil)
	want := []queue.LogLine{
		{Level: "debug", Message: "d"},
		{Level: "info", Message: "building", Fields: map[string]any{"mr": int64(1), "chroots": []any{"a", "b"}, "nested": map[string]any{"ok": true}}},
		{Level: "warn", Message: "42"},
		{Level: "error", Message: "failed"},
	}
	if r.Status != StatusOK || !reflect.DeepEqual(r.Logs, want) {
		t.Errorf("logs:\n got %#v\nwant %#v", r.Logs, want)
	}
	out := buf.String()
	for _, line := range []string{
		`level=DEBUG msg=d plugin=p delivery=` + env.ID,
		`level=INFO msg=building plugin=p delivery=` + env.ID + ` chroots="[a b]" mr=1 nested=map[ok:true]`,
		`level=WARN msg=42 plugin=p`,
		`level=ERROR msg=failed plugin=p`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("process log lacks %q:\n%s", line, out)
		}
	}

	r = s.Run(context.Background(), "many", env, nil)
	if len(r.Logs) != MaxLogLines+1 || r.Logs[MaxLogLines].Message != "log: 5 more lines dropped (limit 1000 per run)" {
		t.Errorf("got %d lines, last %+v", len(r.Logs), r.Logs[len(r.Logs)-1])
	}
	r = s.Run(context.Background(), "long", env, nil)
	if m := r.Logs[0].Message; len(m) > MaxLogMessageBytes || !strings.HasSuffix(m, "…(truncated)") || !strings.HasPrefix(m, "éé") {
		t.Errorf("long message: %d bytes", len(m))
	}
	r = s.Run(context.Background(), "badfld", env, nil)
	if r.Status != StatusError || !strings.Contains(errText(r.Err), "log.info: fields: f: cannot convert a function") {
		t.Errorf("bad fields: %s %v", r.Status, r.Err)
	}
	r = s.Run(context.Background(), "event", env, nil)
	ev, _ := r.Logs[0].Fields["event"].(map[string]any)
	if ev["note"] != "/packit build" || ev["merge_request"].(map[string]any)["iid"] != int64(1) {
		t.Errorf("event in log fields: %v", r.Logs[0].Fields)
	}
}

func TestJSONModule(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"roundtrip": `function handle()
  local s = json.encode({ b = { 1, 2, { c = "x" } }, a = json.null, n = 1.5 })
  local v = json.decode(s)
  return { s = s, b3c = v.b[3].c, a = v.a == nil, null = tostring(json.null) }
end`,
		"badjson": `function handle() return json.decode("{") end`,
		"cycle":   `function handle() local t = {} t.t = t return json.encode(t) end`,
		"big":     `function handle() return json.decode(string.rep(" ", 2e6)) end`,
		"event":   `function handle(e) return json.decode(json.encode(e)).payload.object_attributes.id end`,
		// Keys that differ only in invalid UTF-8 stay two keys: Lua strings
		// are bytes (encoding/json would make both U+FFFD and keep one).
		"bytekeys": `function handle()
  local v = json.decode('{"\1400":0,"\1440":""}')
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return { n = n, a = v["\1400"], b = v["\1440"] }
end`,
	}, Options{})
	env := noteEnvelope(t)
	cases := map[string]struct{ value, err string }{
		"roundtrip": {`{"a":true,"b3c":"x","null":"null","s":"{\"a\":null,\"b\":[1,2,{\"c\":\"x\"}],\"n\":1.5}"}`, ""},
		"badjson":   {"", "json.decode: unexpected end of input"},
		"cycle":     {"", "json.encode: t: cannot encode a table that contains itself"},
		"big":       {"", "string.rep: result too large"},
		"event":     {"1244", ""},
		"bytekeys":  {`{"a":0,"b":"","n":2}`, ""},
	}
	for name, c := range cases {
		r := s.Run(context.Background(), name, env, nil)
		if string(r.Value) != c.value || !strings.Contains(errText(r.Err), c.err) || (c.err == "") != (r.Err == nil) {
			t.Errorf("%s: got %s %s %v", name, r.Status, r.Value, r.Err)
		}
	}
}

// memKV is an in-memory KV for tests.
type memKV struct {
	mu   sync.Mutex
	m    map[string]string
	fail error
}

func (k *memKV) KVGet(ctx context.Context, ns, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return nil, false, k.fail
	}
	v, ok := k.m[ns+"/"+key]
	return []byte(v), ok, nil
}

func (k *memKV) KVPut(ctx context.Context, ns, key string, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.m[ns+"/"+key] = string(value)
	return nil
}

func (k *memKV) KVDelete(ctx context.Context, ns, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	delete(k.m, ns+"/"+key)
	return nil
}

func TestKVModule(t *testing.T) {
	store := &memKV{m: map[string]string{}}
	files := map[string]string{
		"a": `function handle(e, p)
  local before = kv.get("built:" .. e.sha)
  kv.set("built:" .. e.sha, "yes")
  local after = kv.get("built:" .. e.sha)
  if p.delete then kv.delete("built:" .. e.sha) end
  return { before = before or "nil", after = after }
end`,
		"b":       `function handle(e) return kv.get("built:" .. e.sha) or "nil" end`,
		"longkey": `function handle() kv.set(string.rep("k", 300), "v") end`,
		"bigval":  `function handle() kv.set("k", string.rep("v", 70000)) end`,
		"number":  `function handle() kv.set("k", 12) return kv.get("k") end`,
	}
	s := mustLoad(t, files, Options{KV: store})
	env := noteEnvelope(t)
	run := func(name string, params map[string]any) Result {
		return s.Run(context.Background(), name, env, params)
	}
	if r := run("a", nil); string(r.Value) != `{"after":"yes","before":"nil"}` {
		t.Errorf("first run: %s %v", r.Value, r.Err)
	}
	if r := run("a", map[string]any{"delete": true}); string(r.Value) != `{"after":"yes","before":"yes"}` {
		t.Errorf("second run: %s %v", r.Value, r.Err)
	}
	if r := run("a", nil); string(r.Value) != `{"after":"yes","before":"nil"}` {
		t.Errorf("after delete: %s %v", r.Value, r.Err)
	}
	if r := run("b", nil); string(r.Value) != `"nil"` {
		t.Errorf("plugin b sees plugin a's key: %s %v", r.Value, r.Err)
	}
	if got := store.m["a/built:"+env.SHA]; got != "yes" {
		t.Errorf("store holds %v", store.m)
	}
	for name, want := range map[string]string{
		"longkey": "kv.set: key must be 1 to 256 bytes",
		"bigval":  "kv.set: value too large (max 65536 bytes)",
	} {
		if r := run(name, nil); r.Status != StatusError || !strings.Contains(errText(r.Err), want) {
			t.Errorf("%s: %s %v", name, r.Status, r.Err)
		}
	}
	if r := run("number", nil); string(r.Value) != `"12"` {
		t.Errorf("number value: %s %v", r.Value, r.Err)
	}
	store.fail = errors.New("disk on fire")
	if r := run("b", nil); r.Status != StatusRetry || !strings.Contains(errText(r.Err), "kv.get: disk on fire") {
		t.Errorf("store failure: %s %v", r.Status, r.Err)
	}

	// No store configured.
	s2 := mustLoad(t, map[string]string{"b": files["b"]}, Options{})
	if r := s2.Run(context.Background(), "b", env, nil); r.Status != StatusError || !strings.Contains(errText(r.Err), "kv.get: kv not configured") {
		t.Errorf("no store: %s %v", r.Status, r.Err)
	}
	// Not at the top level (no run yet).
	_, err := Load(writePlugins(t, map[string]string{"top": `kv.get("x") function handle() end`}), Options{KV: store, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "top.lua:1:1: kv.get: only available while handle runs") {
		t.Errorf("top-level kv: %v", err)
	}
}

// TestBindingsHonourContext: module functions refuse to work once the run's
// context has ended (a script catching the timeout with pcall cannot go on
// calling them).
func TestBindingsHonourContext(t *testing.T) {
	store := &memKV{m: map[string]string{}}
	s := mustLoad(t, map[string]string{"p": `function handle()
  local ok, err = pcall(function() while true do end end)
  kv.set("after", "timeout")
end`}, Options{KV: store, Timeout: 50 * time.Millisecond})
	r := s.Run(context.Background(), "p", nil, nil)
	if r.Status != StatusRetry {
		t.Errorf("got %s %v", r.Status, r.Err)
	}
	if len(store.m) != 0 {
		t.Errorf("kv written after the deadline: %v", store.m)
	}
}

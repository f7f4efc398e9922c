package plugins

import (
	"context"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/hookgate/hookgate/gateway/queue"
)

// KV is the persistent key-value store behind the kv module, for state a
// plugin keeps between events ("already built this sha"). Both queue
// stores implement it.
//
// ns is the plugin's name, so each plugin sees only its own keys. KVGet
// returns ok=false (and a nil error) for a key that is not set. All three
// must honour ctx. KVPut enforces the store's per-namespace quota
// (queue.KVQuota): a put past it returns an error wrapping
// queue.ErrKVQuota, which fails the run for good (the script's doing),
// where other store errors make it retried.
type KV interface {
	KVGet(ctx context.Context, ns, key string) (value []byte, ok bool, err error)
	KVPut(ctx context.Context, ns, key string, value []byte) error
	KVDelete(ctx context.Context, ns, key string) error
}

// Size limits of the kv module: keys stricter than the store's, values
// the store's own limit.
const (
	MaxKVKeyBytes   = 256
	MaxKVValueBytes = queue.MaxKVValueLen
)

// errNoKV is raised by the kv module when no store was configured.
var errNoKV = errors.New("kv not configured")

// kvModule builds the kv table: get, set and delete on the run's plugin
// namespace. Store failures are raised as retryable: the store being
// unavailable is not the script's fault.
func kvModule(L *lua.LState, store KV) *lua.LTable {
	t := L.CreateTable(0, 3)
	t.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		ctx, ns, key := kvArgs(L, store, "kv.get")
		v, ok, err := store.KVGet(ctx, ns, key)
		if err != nil {
			Raise(L, Retry(fmt.Sprintf("kv.get: %v", err), 0))
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(v))
		return 1
	}))
	t.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		ctx, ns, key := kvArgs(L, store, "kv.set")
		v := L.CheckString(2)
		if len(v) > MaxKVValueBytes {
			L.RaiseError("kv.set: value too large (max %d bytes)", MaxKVValueBytes)
		}
		if err := store.KVPut(ctx, ns, key, []byte(v)); err != nil {
			var qe *queue.KVQuotaError
			if errors.As(err, &qe) {
				L.RaiseError("kv.set: over the plugin's quota: %d %s (max %d)", qe.Want, qe.Units, qe.Max)
			}
			if errors.Is(err, queue.ErrKVQuota) {
				L.RaiseError("kv.set: over the plugin's quota")
			}
			Raise(L, Retry(fmt.Sprintf("kv.set: %v", err), 0))
		}
		return 0
	}))
	t.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		ctx, ns, key := kvArgs(L, store, "kv.delete")
		if err := store.KVDelete(ctx, ns, key); err != nil {
			Raise(L, Retry(fmt.Sprintf("kv.delete: %v", err), 0))
		}
		return 0
	}))
	return t
}

// kvArgs checks what every kv call needs: a store, a run, a live context
// and a valid key (argument 1).
func kvArgs(L *lua.LState, store KV, fn string) (context.Context, string, string) {
	key := L.CheckString(1)
	if store == nil {
		L.RaiseError("%s: %v", fn, errNoKV)
	}
	ctx := L.Context()
	r := runFrom(ctx)
	if r == nil {
		L.RaiseError("%s: only available while handle runs", fn)
	}
	checkCtx(L, fn)
	if key == "" || len(key) > MaxKVKeyBytes {
		L.RaiseError("%s: key must be 1 to %d bytes", fn, MaxKVKeyBytes)
	}
	return ctx, r.plugin, key
}

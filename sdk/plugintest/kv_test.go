package plugintest_test

import (
	"errors"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

// TestMemKVQuota: the harness's store holds plugins to a quota like the
// gateway's stores, so a plugin's tests meet the error its users would.
func TestMemKVQuota(t *testing.T) {
	kv := plugintest.NewMemKV()
	kv.SetQuota(queue.KVQuota{MaxKeys: 2, MaxBytes: 100})
	c := t.Context()
	for _, k := range []string{"a", "b"} {
		if err := kv.KVPut(c, "p", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var qe *queue.KVQuotaError
	if err := kv.KVPut(c, "p", "c", nil); !errors.As(err, &qe) || qe.Units != "keys" || qe.Want != 3 {
		t.Errorf("third key: %v", err)
	}
	if err := kv.KVPut(c, "p", "a", make([]byte, 98)); !errors.As(err, &qe) || qe.Units != "bytes" || qe.Want != 101 {
		t.Errorf("past the bytes: %v", err)
	}
	if err := kv.KVPut(c, "other", "c", nil); err != nil {
		t.Errorf("another plugin: %v", err)
	}
}

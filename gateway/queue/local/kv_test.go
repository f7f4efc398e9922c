package local

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

func TestKV(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	c := ctx(t)
	big := bytes.Repeat([]byte("v"), queue.MaxKVValueLen)
	long := strings.Repeat("k", queue.MaxKVKeyLen)

	type step struct {
		do        string // put, get, del
		ns, key   string
		value     []byte
		wantFound bool
		wantErr   error
	}
	steps := []step{
		{do: "get", ns: "p1", key: "a"}, // unknown namespace
		{do: "put", ns: "p1", key: "a", value: []byte("1")},
		{do: "get", ns: "p1", key: "a", value: []byte("1"), wantFound: true},
		{do: "get", ns: "p2", key: "a"}, // namespaces are separate
		{do: "put", ns: "p1", key: "a", value: []byte("2")},
		{do: "get", ns: "p1", key: "a", value: []byte("2"), wantFound: true},
		{do: "get", ns: "p1", key: "ab"},
		{do: "put", ns: "p1", key: "empty", value: nil},
		{do: "get", ns: "p1", key: "empty", value: []byte{}, wantFound: true},
		{do: "put", ns: "p1", key: long, value: big},
		{do: "get", ns: "p1", key: long, value: big, wantFound: true},
		{do: "del", ns: "p1", key: "a"},
		{do: "get", ns: "p1", key: "a"},
		{do: "del", ns: "p1", key: "never"},
		{do: "del", ns: "nobody", key: "a"},
		{do: "put", ns: "p1", key: long + "k", value: []byte("x"), wantErr: queue.ErrKVKey},
		{do: "put", ns: "p1", key: "", value: []byte("x"), wantErr: queue.ErrKVKey},
		{do: "put", ns: "", key: "a", value: []byte("x"), wantErr: queue.ErrKVKey},
		{do: "get", ns: "", key: "a", wantErr: queue.ErrKVKey},
		{do: "del", ns: "p1", key: "", wantErr: queue.ErrKVKey},
		{do: "put", ns: "p1", key: "big", value: append(big, 'x'), wantErr: queue.ErrKVValue},
		{do: "get", ns: "p1", key: "big"},
	}
	for i, st := range steps {
		var (
			got   []byte
			found bool
			err   error
		)
		switch st.do {
		case "put":
			err = s.KVPut(c, st.ns, st.key, st.value)
		case "get":
			got, found, err = s.KVGet(c, st.ns, st.key)
		case "del":
			err = s.KVDelete(c, st.ns, st.key)
		}
		if !errors.Is(err, st.wantErr) {
			t.Errorf("step %d %s %s/%.10s: err %v, want %v", i, st.do, st.ns, st.key, err, st.wantErr)
		}
		if st.do == "get" && (found != st.wantFound || !bytes.Equal(got, st.value) || (found && got == nil)) {
			t.Errorf("step %d get %s/%.10s = %.10q, %v; want %.10q, %v", i, st.ns, st.key, got, found, st.value, st.wantFound)
		}
	}

	// The caller owns what it passed and what it got.
	val := []byte("mine")
	if err := s.KVPut(c, "p1", "own", val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X'
	got, _, _ := s.KVGet(c, "p1", "own")
	got[0] = 'Y'
	if again, _, _ := s.KVGet(c, "p1", "own"); string(again) != "mine" {
		t.Errorf("stored value changed through caller's slice: %q", again)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.KVGet(c, "p1", "a"); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
	if err := s.KVPut(c, "p1", "a", nil); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("put after close: %v", err)
	}
}

func TestKVQuota(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	var s *Store
	queuetest.KVQuota(t, func(t *testing.T, q queue.KVQuota, reopen bool) queuetest.KV {
		if reopen {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s = open(t, path, Options{KVQuota: q})
		return s
	})
}

// TestKVQuotaDefault: the zero quota is the default one, a negative field
// no limit.
func TestKVQuotaDefault(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	if q := s.opts.KVQuota; q.MaxKeys != queue.DefaultKVMaxKeys || q.MaxBytes != queue.DefaultKVMaxBytes {
		t.Errorf("default quota %+v", q)
	}
	if q := (queue.KVQuota{MaxKeys: -1, MaxBytes: -1}).WithDefaults(); q.MaxKeys != 0 || q.MaxBytes != 0 {
		t.Errorf("no limit: %+v", q)
	}
}

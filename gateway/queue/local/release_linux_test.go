package local

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// mappedKiB is the resident size of this process's mappings of file, from
// /proc/self/smaps.
func mappedKiB(t *testing.T, file string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	kib, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == file
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			n, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			kib += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kib
}

func TestReleaseMappedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{ReleaseInterval: -1})

	// 200 deliveries of 40 KB that do not compress: 8 MB of envelopes.
	const n = 200
	payloads := make(map[string]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			raw := make([]byte, 30<<10)
			_, _ = rand.Read(raw)
			body := `{"object_kind":"push","n":` + strconv.Itoa(i) + `,"blob":"` + base64.StdEncoding.EncodeToString(raw) + `"}`
			d := &queue.Delivery{Envelope: envelope.Envelope{Kind: "push", Project: envelope.Project{ID: 1, Path: "g/a"}, Payload: json.RawMessage(body)}}
			rc, err := s.Enqueue(ctx(t), d)
			if err != nil {
				t.Errorf("enqueue: %v", err)
				return
			}
			mu.Lock()
			payloads[rc.ID] = body
			mu.Unlock()
		})
	}
	wg.Wait()
	readAll := func() {
		t.Helper()
		for id, want := range payloads {
			d, err := s.Get(ctx(t), id)
			if err != nil {
				t.Fatalf("get %s: %v", id, err)
			}
			if string(d.Envelope.Payload) != want {
				t.Fatalf("get %s: payload differs (%d bytes, want %d)", id, len(d.Envelope.Payload), len(want))
			}
		}
	}
	readAll() // maps every page holding an envelope
	before := mappedKiB(t, path)
	if before < 4<<10 {
		t.Fatalf("reading 8 MB of envelopes left %d KiB of the file mapped; the test cannot see a release", before)
	}
	if err := s.releaseMapped(); err != nil {
		t.Fatalf("release: %v", err)
	}
	after := mappedKiB(t, path)
	t.Logf("store file resident: %d KiB before the release, %d KiB after", before, after)
	if after > before/8 {
		t.Errorf("after the release %d KiB of the store file stay resident (before: %d KiB)", after, before)
	}
	readAll() // the data is intact: pages are mapped again from the page cache
	if err := s.releaseMapped(); err != nil {
		t.Fatalf("second release: %v", err)
	}
}

func TestReleaserRunsAfterCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	const interval = 10 * time.Millisecond
	s := open(t, path, Options{ReleaseInterval: interval, ReleaseAbove: 1}) // any file-backed memory (the executable's) is above
	released := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for mappedKiB(t, path) != 0 && time.Now().Before(deadline) {
			time.Sleep(interval / 2)
		}
		if kib := mappedKiB(t, path); kib != 0 {
			t.Fatalf("the releaser left %d KiB of the store file resident", kib)
		}
	}
	id := mustEnqueue(t, s, delivery("push"))
	settled(t, s)
	released() // after the commit that moved it into bbolt

	// Reads commit nothing: what they map stays until the next commit.
	if _, err := s.Get(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * interval)
	if mappedKiB(t, path) == 0 {
		t.Fatal("pages mapped by Get were released although nothing was committed since the last release")
	}
	mustEnqueue(t, s, delivery("push"))
	released()
}

// Below ReleaseAbove nothing is released, commits or not.
func TestReleaserWaitsForTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	const interval = 10 * time.Millisecond
	s := open(t, path, Options{ReleaseInterval: interval, ReleaseAbove: 1 << 40})
	id := mustEnqueue(t, s, delivery("push"))
	if _, err := s.Get(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, delivery("push"))
	time.Sleep(10 * interval)
	if mappedKiB(t, path) == 0 {
		t.Fatal("pages were released although the resident set is far below ReleaseAbove")
	}
}

func TestResidentFileBytes(t *testing.T) {
	n, err := residentFileBytes()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 { // the test binary's own text is resident
		t.Fatalf("resident file-backed memory = %d bytes, want at least the executable's pages", n)
	}
}

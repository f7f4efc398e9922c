package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
)

// benchPayload is a note payload of about 4 KB, the size of a typical
// GitLab note hook.
var benchPayload = json.RawMessage(fmt.Sprintf(
	`{"object_kind":"note","event_type":"note","user":{"id":1,"username":"alice"},`+
		`"project":{"id":7,"path_with_namespace":"group/project"},`+
		`"object_attributes":{"id":99,"note":"/packit build","noteable_type":"MergeRequest","description":%q},`+
		`"merge_request":{"iid":3,"title":"Fix","source_branch":"fix","target_branch":"main"}}`,
	strings.Repeat("lorem ipsum ", 320)))

func benchDelivery() *queue.Delivery {
	return &queue.Delivery{
		Headers: map[string]string{"X-Gitlab-Event": "Note Hook", "Idempotency-Key": "x"},
		Envelope: envelope.Envelope{
			Kind: "note", Event: "Note Hook", Note: "/packit build", NoteableType: "MergeRequest",
			Project: envelope.Project{ID: 7, Path: "group/project"},
			Payload: benchPayload,
		},
	}
}

func benchStore(b *testing.B) *Store { return benchStoreOpts(b, Options{}) }

func benchStoreOpts(b *testing.B, opts Options) *Store {
	b.Helper()
	opts.SweepInterval, opts.Logger = -1, slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(filepath.Join(b.TempDir(), "q.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds throughput, the mean group-commit batch size and, when cpu0
// is the process CPU time at the start, the CPU time per op (every
// goroutine counted, the store's writers included: less sensitive to other
// processes than ns/op).
func report(b *testing.B, s *Store, ops int, cpu0 ...time.Duration) {
	if len(cpu0) > 0 {
		b.ReportMetric(float64((processCPU()-cpu0[0]).Nanoseconds())/1e3/float64(ops), "cpu-µs/op")
	}
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
	if st := s.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
	}
}

// BenchmarkEnqueue: many receivers enqueueing at once (32 goroutines per
// CPU), each call waiting for its fsynced commit: through the ingest log
// (wal), and straight into bbolt (bbolt, Options.NoWAL). Each call carries
// its own idempotency key, a random UUID as GitLab sends, checked against
// the stored ones (keys that sort in arrival order would always land at
// the end of every index: a best case GitLab never sends). The wal case
// includes moving everything into bbolt before the timer stops.
func BenchmarkEnqueue(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{{"wal", Options{}}, {"bbolt", Options{NoWAL: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchStoreOpts(b, bc.opts)
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := benchDelivery()
					d.Key = uuid.NewString()
					if _, err := s.Enqueue(context.Background(), d); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := s.settle(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			report(b, s, b.N, cpu0)
		})
	}
}

// BenchmarkMove: the mover storing logged deliveries in bbolt ahead of
// the workers (past the log's bound, for readers, at Close); the
// enqueues that log them are not timed. Random keys, as GitLab sends.
func BenchmarkMove(b *testing.B) {
	s := benchStore(b)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				d := benchDelivery()
				d.Key = uuid.NewString()
				if _, err := s.Enqueue(context.Background(), d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	if err := s.settle(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "moved/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkEnqueueSerial: one enqueue at a time, one fsync each.
func BenchmarkEnqueueSerial(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Enqueue(context.Background(), benchDelivery()); err != nil {
			b.Fatal(err)
		}
	}
	report(b, s, b.N)
}

// preload enqueues n deliveries concurrently (group-committed).
func preload(b *testing.B, s *Store, n int) {
	b.Helper()
	var wg sync.WaitGroup
	const workers = 64
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := s.Enqueue(context.Background(), benchDelivery()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.settle(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClaimFinish: one worker claiming and finishing (two fsynced
// commits per delivery).
func BenchmarkClaimFinish(b *testing.B) {
	s := benchStore(b)
	preload(b, s, b.N)
	outcomes := []queue.Outcome{{Rule: "r", Plugin: "p", Status: "ok", Result: json.RawMessage(`{"ok":true}`)}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d, err := s.Claim(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Finish(context.Background(), d.ID, queue.Report{Status: queue.StatusDone, Outcomes: outcomes}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, s, b.N)
}

// BenchmarkClaimFinishParallel: 16 workers sharing commits.
func BenchmarkClaimFinishParallel(b *testing.B) {
	s := benchStore(b)
	preload(b, s, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	claimFinish(b, s, b.N, 16)
	b.StopTimer()
	report(b, s, b.N)
}

// claimFinish claims and finishes (done) n deliveries with workers
// goroutines.
func claimFinish(b *testing.B, s *Store, n, workers int) {
	b.Helper()
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				d, err := s.Claim(context.Background())
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Finish(context.Background(), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkSweep: the janitor deleting final deliveries beyond
// RetainCount, in its bounded transactions, one delivery per op (their
// dedupe keys stay: the window has not passed).
func BenchmarkSweep(b *testing.B) {
	s := benchStoreOpts(b, Options{Policy: queue.Policy{RetainCount: 1}})
	preload(b, s, b.N+1)
	claimFinish(b, s, b.N+1, 16)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	swept, err := s.Sweep(context.Background())
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if swept.Deliveries != b.N {
		b.Fatalf("swept %d deliveries, want %d", swept.Deliveries, b.N)
	}
	report(b, s, b.N, cpu0)
}

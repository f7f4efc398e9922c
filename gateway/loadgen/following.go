package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Sample is the backlog at one moment of a run.
type Sample struct {
	// At is the time since the load started.
	At time.Duration `json:"at_ns"`
	// Backlog is queued + running deliveries; AtLeast marks a lower bound.
	Backlog int64 `json:"backlog"`
	AtLeast bool  `json:"at_least,omitempty"`
	// Processed counts deliveries finished since the load started; -1
	// when unknown.
	Processed int64 `json:"processed"`
}

// Pipeline is what happened behind the acknowledgements: how fast the
// gateway processed what it accepted.
type Pipeline struct {
	Source  string   `json:"source"`
	Samples []Sample `json:"samples"`
	// ProcessedPerSec is the rate of deliveries finished during the load;
	// -1 when unknown.
	ProcessedPerSec float64 `json:"processed_per_sec"`
	// MaxBacklog is the largest backlog seen during the load; EndBacklog
	// the backlog when the load stopped.
	MaxBacklog int64 `json:"max_backlog"`
	EndBacklog int64 `json:"end_backlog"`
	AtLeast    bool  `json:"at_least,omitempty"` // a backlog figure is a lower bound
	// DrainTime is how long after the load the backlog took to empty; -1
	// when it did not within the drain limit.
	DrainTime time.Duration `json:"drain_ns"`
	// EndToEndPerSec is the deliveries this run got queued divided by load
	// time plus drain time: the rate at which events went all the way
	// through. 0 when the backlog did not drain.
	EndToEndPerSec float64 `json:"end_to_end_per_sec"`
	// Error is the first failure to read the progress, if any.
	Error string `json:"error,omitempty"`
}

// following polls a Follower (and an RSS reader) while a run goes on.
type following struct {
	o      Options
	queued *atomic.Uint64 // "202 queued" answers so far

	mu      sync.Mutex
	t0      time.Time
	base    Progress
	haveB   bool
	samples []Sample
	maxRSS  int64
	maxAnon int64
	err     string

	stop    chan struct{}
	done    chan struct{}
	rssDone chan struct{} // nil when no RSS reader is set
}

// rssEvery is how often the resident memory is read: its peaks (a
// garbage collection, a burst of mapped file pages before the store gives
// them back) last well under the backlog's poll interval.
const rssEvery = 100 * time.Millisecond

func newFollowing(o Options, queued *atomic.Uint64) *following {
	return &following{o: o, queued: queued}
}

func (f *following) active() bool {
	return f.o.Follow != nil || f.o.RSS != nil || f.o.AnonRSS != nil
}

// start takes the baseline, then polls every PollEvery until finish.
func (f *following) start(ctx context.Context) {
	if !f.active() {
		return
	}
	f.t0 = time.Now()
	if f.o.Follow != nil {
		if p, err := f.o.Follow.Sample(ctx); err != nil {
			f.fail(err)
		} else {
			f.base, f.haveB = p, true
		}
	}
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	go f.every(ctx, f.o.PollEvery, f.done, func() { f.poll(ctx) })
	if f.o.RSS != nil || f.o.AnonRSS != nil {
		f.rssDone = make(chan struct{})
		go f.every(ctx, min(rssEvery, f.o.PollEvery), f.rssDone, f.sampleRSS)
	}
}

// every calls fn every d until finish or ctx ends, then closes done.
func (f *following) every(ctx context.Context, d time.Duration, done chan<- struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// sampleRSS reads the resident memory, keeping the highest.
func (f *following) sampleRSS() {
	if f.o.RSS != nil {
		if rss, err := f.o.RSS(); err == nil {
			f.mu.Lock()
			f.maxRSS = max(f.maxRSS, rss)
			f.mu.Unlock()
		}
	}
	if f.o.AnonRSS != nil {
		if rss, err := f.o.AnonRSS(); err == nil {
			f.mu.Lock()
			f.maxAnon = max(f.maxAnon, rss)
			f.mu.Unlock()
		}
	}
}

// poll takes one sample; it returns it and whether it holds a backlog.
func (f *following) poll(ctx context.Context) (Sample, bool) {
	f.sampleRSS()
	if f.o.Follow == nil {
		return Sample{}, false
	}
	p, err := f.o.Follow.Sample(ctx)
	if err != nil {
		f.fail(err)
		return Sample{}, false
	}
	s := Sample{At: time.Since(f.t0), Backlog: p.Backlog, AtLeast: p.AtLeast, Processed: -1}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.haveB:
	case p.Processed >= 0 && f.base.Processed >= 0:
		s.Processed = p.Processed - f.base.Processed
	case !p.AtLeast && !f.base.AtLeast:
		// Everything queued by this run, plus the backlog found at the
		// start, is either still in the backlog or processed.
		s.Processed = max(int64(f.queued.Load())+f.base.Backlog-p.Backlog, 0)
	}
	f.maxRSS = max(f.maxRSS, p.RSS)
	f.samples = append(f.samples, s)
	return s, true
}

func (f *following) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == "" {
		f.err = err.Error()
	}
}

// finish stops polling when the load has ended, follows the drain and
// fills r.Pipeline and r.MaxRSS.
func (f *following) finish(ctx context.Context, r *Result, loadStart time.Time, elapsed time.Duration) {
	if !f.active() {
		return
	}
	close(f.stop)
	<-f.done
	if f.rssDone != nil {
		<-f.rssDone
	}
	end, ok := f.poll(ctx)
	if f.o.Follow != nil {
		pl := &Pipeline{Source: f.o.Follow.Source(), ProcessedPerSec: -1, DrainTime: -1}
		if ok {
			pl.EndBacklog, pl.AtLeast = end.Backlog, end.AtLeast
			if end.Processed >= 0 {
				pl.ProcessedPerSec = float64(end.Processed) / elapsed.Seconds()
			}
		}
		f.mu.Lock()
		for _, s := range f.samples {
			pl.MaxBacklog = max(pl.MaxBacklog, s.Backlog)
			pl.AtLeast = pl.AtLeast || s.AtLeast
		}
		f.mu.Unlock()
		f.drain(ctx, pl, loadStart, elapsed, end, ok)
		f.mu.Lock()
		pl.Samples = append([]Sample(nil), f.samples...)
		pl.Error = f.err
		f.mu.Unlock()
		r.Pipeline = pl
	}
	f.mu.Lock()
	r.MaxRSS, r.MaxAnonRSS = f.maxRSS, f.maxAnon
	f.mu.Unlock()
}

// drain polls until the backlog is empty or o.Drain has passed.
func (f *following) drain(ctx context.Context, pl *Pipeline, loadStart time.Time, elapsed time.Duration, last Sample, ok bool) {
	loadEnd := loadStart.Add(elapsed)
	deadline := loadEnd.Add(f.o.Drain)
	every := min(f.o.PollEvery, 100*time.Millisecond)
	for !(ok && last.Backlog-f.baseBacklog() <= 0 && !last.AtLeast) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return
		}
		last, ok = f.poll(ctx)
	}
	pl.DrainTime = max(time.Since(loadEnd), 0)
	if pl.DrainTime < every {
		pl.DrainTime = 0 // drained before the load's end was even sampled
	}
	total := elapsed + pl.DrainTime
	pl.EndToEndPerSec = float64(f.queued.Load()) / total.Seconds()
}

func (f *following) baseBacklog() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base.Backlog
}

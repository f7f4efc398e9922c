package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// round builds an evaluated report from the figures a round measured.
func round(gw, durable float64, gwP99, durP99 time.Duration, failed uint64) *Report {
	r := &Report{
		Gateway: &Result{Name: "gateway", AcceptedPerSec: gw, Sent: 100, Accepted: 100 - failed, Latency: Latency{P99: gwP99}},
		Durable: &Result{Name: "durable floor", AcceptedPerSec: durable, Latency: Latency{P99: durP99}},
	}
	r.Evaluate()
	return r
}

func TestSummarizeJudgesMedians(t *testing.T) {
	ms := time.Millisecond
	check := func(rs *Rounds, name string) Check {
		t.Helper()
		for _, c := range rs.Checks {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no check %q in %+v", name, rs.Checks)
		return Check{}
	}

	// Ratios 0.9, 0.7, 0.85: one unlucky round does not decide.
	rs := Summarize([]*Report{
		round(900, 1000, 3*ms, 2*ms, 0),
		round(700, 1000, 5*ms, 2*ms, 0),
		round(850, 1000, 3*ms, 2*ms, 0),
	})
	if got := rs.Median.ThroughputVsDurable; got < 0.849 || got > 0.851 {
		t.Errorf("median throughput ratio %v, want 0.85", got)
	}
	if c := check(rs, checkThroughput); !c.OK || !strings.Contains(c.Got, "0.85x median (0.70-0.90)") {
		t.Errorf("throughput check %+v", c)
	}
	if c := check(rs, checkP99); !c.OK || rs.Median.P99VsDurable != 1.5 {
		t.Errorf("p99 check %+v, median %v", c, rs.Median.P99VsDurable)
	}

	// Two rounds: the mean of the two; a failed request in any round
	// fails that check.
	rs = Summarize([]*Report{
		round(700, 1000, 5*ms, 2*ms, 0),
		round(800, 1000, 3*ms, 2*ms, 1),
	})
	if got := rs.Median.ThroughputVsDurable; got < 0.749 || got > 0.751 {
		t.Errorf("median of two %v, want 0.75", got)
	}
	if c := check(rs, checkThroughput); c.OK {
		t.Errorf("0.75x passed: %+v", c)
	}
	if c := check(rs, checkP99); c.OK { // (2.5+1.5)/2 = 2.0 passes, 2.5 alone would not
		if rs.Median.P99VsDurable != 2.0 {
			t.Errorf("p99 median %v", rs.Median.P99VsDurable)
		}
	} else {
		t.Errorf("p99 median 2.0 failed: %+v", c)
	}
	if c := check(rs, "every request accepted"); c.OK || c.Got != "0 failed; 1 failed" {
		t.Errorf("accepted check %+v", c)
	}

	var out bytes.Buffer
	rs.Print(&out)
	for _, want := range []string{"=== round 1 of 2", "=== round 2 of 2", "=== 2 rounds", "throughput vs durable floor    0.75x", "MISS durable ingest vs durable floor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed summary lacks %q:\n%s", want, out.String())
		}
	}
}

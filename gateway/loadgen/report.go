package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Latency summarizes acknowledgement times: from sending a request to
// reading the whole answer, as the client saw it.
type Latency struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}

// Result is one load run against one server.
type Result struct {
	Name    string        `json:"name"`
	URL     string        `json:"url"`
	Conns   int           `json:"conns"`
	Keys    string        `json:"keys"` // Options.Keys
	Elapsed time.Duration `json:"elapsed_ns"`
	// Sent counts requests that got an answer or failed; Sent = sum of
	// Statuses + Errors.
	Sent uint64 `json:"sent"`
	// Statuses counts answers by code and JSON status ("202 queued").
	Statuses map[string]uint64 `json:"statuses"`
	// Accepted counts 2xx answers; Queued the "202 queued" ones (new
	// deliveries stored).
	Accepted uint64 `json:"accepted"`
	Queued   uint64 `json:"queued"`
	// Errors counts requests without an answer (transport error, timeout);
	// FirstError is the first such error.
	Errors     uint64 `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// AcceptedPerSec is Accepted divided by Elapsed.
	AcceptedPerSec float64 `json:"accepted_per_sec"`
	Latency        Latency `json:"latency"`
	// Pipeline is set when the run followed the server's processing.
	Pipeline *Pipeline `json:"pipeline,omitempty"`
	// MaxRSS is the largest resident memory seen (bytes); 0 when unknown.
	MaxRSS int64 `json:"max_rss_bytes,omitempty"`
	// MaxAnonRSS is the largest anonymous resident memory seen (heap,
	// stacks: what the process holds, not mapped file pages); 0 when
	// unknown.
	MaxAnonRSS int64 `json:"max_anon_rss_bytes,omitempty"`
	// Machine is the machine's load during the load phase.
	Machine Machine `json:"machine"`
	// Command is the fork/exec floor's command (that floor only).
	Command []string `json:"command,omitempty"`
}

// Report is a gateway run and, when measured in the same invocation, the
// floors it is compared with.
type Report struct {
	Gateway *Result `json:"gateway"`
	Bare    *Result `json:"bare_floor,omitempty"`
	Durable *Result `json:"durable_floor,omitempty"`
	Exec    *Result `json:"exec_floor,omitempty"`
	// Ratios of the gateway's figures to the floors'; zero when a floor
	// was not run.
	Ratios Ratios  `json:"ratios"`
	Checks []Check `json:"checks"`
}

// Ratios compare the gateway with the floors measured in the same run.
type Ratios struct {
	// ThroughputVsDurable is the gateway's accepted/s over the durable
	// floor's (target >= 0.8); ThroughputVsBare over the bare floor's.
	ThroughputVsDurable float64 `json:"throughput_vs_durable"`
	ThroughputVsBare    float64 `json:"throughput_vs_bare"`
	// P99VsDurable is the gateway's ack p99 over the durable floor's
	// (target <= 2).
	P99VsDurable float64 `json:"p99_vs_durable"`
	// EndToEndVsExec is the gateway's events/s processed end to end over
	// the fork/exec floor's accepted/s (target >= 10); zero unless both
	// were measured.
	EndToEndVsExec float64 `json:"end_to_end_vs_exec,omitempty"`
}

// Check is one performance target and whether the run met it.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// The targets checked by Evaluate.
const (
	TargetThroughputRatio = 0.8
	TargetP99Ratio        = 2.0
	TargetExecRatio       = 10.0
	TargetRSS             = 150 << 20
	// TargetKeepPace: the backlog when the load stops is at most this
	// many seconds of ingest.
	TargetKeepPace = 2 * time.Second
)

// Names of the checks judged on ratios.
const (
	checkThroughput = "durable ingest vs durable floor"
	checkP99        = "ack p99 vs durable floor"
	checkExec       = "end to end vs fork/exec floor"
)

// Evaluate fills Ratios and Checks from the results present.
func (r *Report) Evaluate() {
	g := r.Gateway
	r.Ratios, r.Checks = Ratios{}, nil
	if g == nil {
		return
	}
	if d := r.Durable; d != nil && d.AcceptedPerSec > 0 {
		r.Ratios.ThroughputVsDurable = g.AcceptedPerSec / d.AcceptedPerSec
		r.Checks = append(r.Checks, Check{
			Name: checkThroughput, Want: fmt.Sprintf(">= %.2fx", TargetThroughputRatio),
			Got: fmt.Sprintf("%.2fx", r.Ratios.ThroughputVsDurable),
			OK:  r.Ratios.ThroughputVsDurable >= TargetThroughputRatio,
		})
		if d.Latency.P99 > 0 {
			r.Ratios.P99VsDurable = float64(g.Latency.P99) / float64(d.Latency.P99)
			r.Checks = append(r.Checks, Check{
				Name: checkP99, Want: fmt.Sprintf("<= %.1fx", TargetP99Ratio),
				Got: fmt.Sprintf("%.2fx", r.Ratios.P99VsDurable),
				OK:  r.Ratios.P99VsDurable <= TargetP99Ratio,
			})
		}
	}
	if b := r.Bare; b != nil && b.AcceptedPerSec > 0 {
		r.Ratios.ThroughputVsBare = g.AcceptedPerSec / b.AcceptedPerSec
	}
	if x, p := r.Exec, g.Pipeline; x != nil && x.AcceptedPerSec > 0 && p != nil && p.Error == "" && p.DrainTime >= 0 {
		r.Ratios.EndToEndVsExec = p.EndToEndPerSec / x.AcceptedPerSec
		r.Checks = append(r.Checks, Check{
			Name: checkExec, Want: fmt.Sprintf(">= %.0fx", TargetExecRatio),
			Got: fmt.Sprintf("%.1fx", r.Ratios.EndToEndVsExec),
			OK:  r.Ratios.EndToEndVsExec >= TargetExecRatio,
		})
	}
	if g.Sent > 0 {
		bad := g.Sent - g.Accepted
		r.Checks = append(r.Checks, Check{
			Name: "every request accepted", Want: "0 failed", Got: fmt.Sprintf("%d failed", bad), OK: bad == 0,
		})
	}
	if p := g.Pipeline; p != nil && p.Error == "" {
		limit := int64(g.AcceptedPerSec * TargetKeepPace.Seconds())
		got := fmt.Sprintf("%d at end of load", p.EndBacklog)
		if p.AtLeast {
			got = fmt.Sprintf(">= %d at end of load", p.EndBacklog)
		}
		r.Checks = append(r.Checks, Check{
			Name: "processing keeps pace (backlog)", Want: fmt.Sprintf("<= %d (%s of ingest)", limit, TargetKeepPace),
			Got: got, OK: !p.AtLeast && p.EndBacklog <= limit && p.DrainTime >= 0,
		})
	}
	if g.MaxAnonRSS > 0 {
		r.Checks = append(r.Checks, Check{
			Name: "resident memory, anonymous", Want: fmt.Sprintf("<= %d MiB", TargetRSS>>20),
			Got: fmt.Sprintf("%.1f MiB", float64(g.MaxAnonRSS)/(1<<20)), OK: g.MaxAnonRSS <= TargetRSS,
		})
	}
	if g.MaxRSS > 0 {
		r.Checks = append(r.Checks, Check{
			Name: "resident memory", Want: fmt.Sprintf("<= %d MiB", TargetRSS>>20),
			Got: fmt.Sprintf("%.1f MiB", float64(g.MaxRSS)/(1<<20)), OK: g.MaxRSS <= TargetRSS,
		})
	}
}

// Print writes the report as text: one block per run, the ratios, and the
// checks.
func (r *Report) Print(w io.Writer) {
	for _, res := range []*Result{r.Bare, r.Durable, r.Exec, r.Gateway} {
		if res != nil {
			res.Print(w)
			fmt.Fprintln(w)
		}
	}
	if r.Durable != nil || r.Bare != nil || r.Ratios.EndToEndVsExec > 0 {
		fmt.Fprintln(w, "ratios (gateway / floor, same run):")
		if r.Bare != nil {
			fmt.Fprintf(w, "  throughput vs bare floor     %6.2fx\n", r.Ratios.ThroughputVsBare)
		}
		if r.Durable != nil {
			fmt.Fprintf(w, "  throughput vs durable floor  %6.2fx\n", r.Ratios.ThroughputVsDurable)
			fmt.Fprintf(w, "  ack p99 vs durable floor     %6.2fx\n", r.Ratios.P99VsDurable)
		}
		if r.Ratios.EndToEndVsExec > 0 {
			fmt.Fprintf(w, "  end to end vs fork/exec floor %5.1fx\n", r.Ratios.EndToEndVsExec)
		}
		fmt.Fprintln(w)
	}
	printChecks(w, "targets:", r.Checks)
}

// printChecks writes checks under a heading, if any.
func printChecks(w io.Writer, heading string, checks []Check) {
	if len(checks) == 0 {
		return
	}
	fmt.Fprintln(w, heading)
	for _, c := range checks {
		mark := "ok  "
		if !c.OK {
			mark = "MISS"
		}
		fmt.Fprintf(w, "  %s %-34s want %-24s got %s\n", mark, c.Name, c.Want, c.Got)
	}
}

// Print writes one run as text.
func (res *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s (%s, %d connections, %s keys, %s)\n", res.Name, res.URL, res.Conns, res.Keys, res.Elapsed.Round(time.Millisecond))
	if len(res.Command) > 0 {
		fmt.Fprintf(w, "  command    %q per delivery\n", res.Command)
	}
	fmt.Fprintf(w, "  requests   %d sent, %d accepted (%.0f/s), %d errors\n",
		res.Sent, res.Accepted, res.AcceptedPerSec, res.Errors)
	keys := slices.SortedFunc(maps.Keys(res.Statuses), func(a, b string) int {
		return cmp.Or(cmp.Compare(res.Statuses[b], res.Statuses[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, res.Statuses[k]))
	}
	fmt.Fprintf(w, "  statuses   %s\n", strings.Join(parts, ", "))
	if res.FirstError != "" {
		fmt.Fprintf(w, "  first error %s\n", res.FirstError)
	}
	l := res.Latency
	fmt.Fprintf(w, "  ack        p50 %s  p90 %s  p99 %s  max %s  mean %s\n",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), ms(l.Mean))
	if res.MaxRSS > 0 {
		anon := ""
		if res.MaxAnonRSS > 0 {
			anon = fmt.Sprintf(" (anonymous %.1f MiB; the rest is mapped file pages, the store's)", float64(res.MaxAnonRSS)/(1<<20))
		}
		fmt.Fprintf(w, "  rss        max %.1f MiB%s\n", float64(res.MaxRSS)/(1<<20), anon)
	}
	if m := res.Machine; m.CPUs > 0 {
		fmt.Fprintf(w, "  machine    load %.2f at start, CPUs %.0f%% busy (%d CPUs, every process)\n", m.Load1, 100*m.Busy, m.CPUs)
	}
	if m := res.Machine; m.ProcessCPU > 0 && res.Sent > 0 {
		fmt.Fprintf(w, "  this process used %.2f CPUs: %.1f µs CPU per request (load generator included)\n",
			m.ProcessCPU.Seconds()/res.Elapsed.Seconds(), float64(m.ProcessCPU.Microseconds())/float64(res.Sent))
	}
	p := res.Pipeline
	if p == nil {
		return
	}
	if p.Error != "" {
		fmt.Fprintf(w, "  pipeline   (%s) error: %s\n", p.Source, p.Error)
	}
	ge := ""
	if p.AtLeast {
		ge = ">="
	}
	proc := "unknown"
	if p.ProcessedPerSec >= 0 {
		proc = fmt.Sprintf("%.0f/s", p.ProcessedPerSec)
	}
	fmt.Fprintf(w, "  pipeline   (%s) processed during load %s, backlog max %s%d, at end %s%d\n",
		p.Source, proc, ge, p.MaxBacklog, ge, p.EndBacklog)
	if p.DrainTime >= 0 {
		fmt.Fprintf(w, "  end to end %.0f events/s (drained %s after the load)\n", p.EndToEndPerSec, p.DrainTime.Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "  end to end backlog did not drain within the drain limit")
	}
	if len(p.Samples) > 0 {
		var b strings.Builder
		for _, s := range thin(p.Samples, 24) {
			mark := ""
			if s.AtLeast {
				mark = "+"
			}
			fmt.Fprintf(&b, " %.0fs:%d%s", s.At.Seconds(), s.Backlog, mark)
		}
		fmt.Fprintf(w, "  backlog   %s\n", b.String())
	}
}

// thin keeps at most n samples, evenly spread, the last one included.
func thin(s []Sample, n int) []Sample {
	if len(s) <= n {
		return s
	}
	out := make([]Sample, 0, n)
	for i := range n {
		out = append(out, s[(i+1)*len(s)/n-1])
	}
	return out
}

// ms formats a duration in milliseconds with 3 decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Rounds is a measurement repeated: each round's report, and the targets
// judged on all of them. On a shared machine one round can be lucky or
// unlucky; the median of the per-round ratios is the figure to report.
type Rounds struct {
	Reports []*Report `json:"rounds"`
	// Median holds the median of each per-round ratio (a ratio is taken
	// within a round, floors and gateway measured minutes apart at most).
	Median Ratios `json:"median_ratios"`
	// Checks are the targets: the ratio targets on Median, every other
	// check held in every round.
	Checks []Check `json:"checks"`
}

// Summarize judges reports, the rounds of one measurement (each already
// evaluated).
func Summarize(reports []*Report) *Rounds {
	rs := &Rounds{Reports: reports}
	if len(reports) == 0 {
		return rs
	}
	throughput := func(r *Report) float64 { return r.Ratios.ThroughputVsDurable }
	p99 := func(r *Report) float64 { return r.Ratios.P99VsDurable }
	exec := func(r *Report) float64 { return r.Ratios.EndToEndVsExec }
	rs.Median = Ratios{
		ThroughputVsDurable: median(reports, throughput),
		ThroughputVsBare:    median(reports, func(r *Report) float64 { return r.Ratios.ThroughputVsBare }),
		P99VsDurable:        median(reports, p99),
		EndToEndVsExec:      median(reports, exec),
	}
	// Checks by name, in the order of the first round that has them.
	var names []string
	byName := map[string][]Check{}
	for _, r := range reports {
		for _, c := range r.Checks {
			if _, ok := byName[c.Name]; !ok {
				names = append(names, c.Name)
			}
			byName[c.Name] = append(byName[c.Name], c)
		}
	}
	for _, name := range names {
		cs := byName[name]
		c := Check{Name: name, Want: cs[0].Want, OK: len(cs) == len(reports)}
		switch name {
		case checkThroughput:
			c.Got = spread(rs.Median.ThroughputVsDurable, reports, throughput)
			c.OK = c.OK && rs.Median.ThroughputVsDurable >= TargetThroughputRatio
		case checkP99:
			c.Got = spread(rs.Median.P99VsDurable, reports, p99)
			c.OK = c.OK && rs.Median.P99VsDurable <= TargetP99Ratio
		case checkExec:
			c.Got = spread(rs.Median.EndToEndVsExec, reports, exec)
			c.OK = c.OK && rs.Median.EndToEndVsExec >= TargetExecRatio
		default:
			got := make([]string, len(cs))
			for i, one := range cs {
				got[i] = one.Got
				c.OK = c.OK && one.OK
			}
			c.Got = strings.Join(got, "; ")
		}
		rs.Checks = append(rs.Checks, c)
	}
	return rs
}

// median is the median of f over reports (the mean of the two middle ones
// for an even count).
func median(reports []*Report, f func(*Report) float64) float64 {
	v := make([]float64, len(reports))
	for i, r := range reports {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// spread formats a median with the range of the rounds.
func spread(med float64, reports []*Report, f func(*Report) float64) string {
	lo, hi := f(reports[0]), f(reports[0])
	for _, r := range reports[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return fmt.Sprintf("%.2fx median (%.2f-%.2f)", med, lo, hi)
}

// Print writes every round, then the medians and the targets.
func (rs *Rounds) Print(w io.Writer) {
	n := len(rs.Reports)
	for i, r := range rs.Reports {
		fmt.Fprintf(w, "=== round %d of %d\n", i+1, n)
		r.Print(w)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "=== %d rounds\n", n)
	fmt.Fprintf(w, "%-28s", "accepted/s")
	for i := range rs.Reports {
		fmt.Fprintf(w, " %10s", fmt.Sprintf("round %d", i+1))
	}
	fmt.Fprintln(w)
	row := func(name string, f func(*Report) *Result) {
		if f(rs.Reports[0]) == nil {
			return
		}
		fmt.Fprintf(w, "  %-26s", name)
		for _, r := range rs.Reports {
			if res := f(r); res != nil {
				fmt.Fprintf(w, " %10.0f", res.AcceptedPerSec)
			}
		}
		fmt.Fprintln(w)
	}
	row("bare floor", func(r *Report) *Result { return r.Bare })
	row("durable floor", func(r *Report) *Result { return r.Durable })
	row("fork/exec floor", func(r *Report) *Result { return r.Exec })
	row("gateway", func(r *Report) *Result { return r.Gateway })
	first := rs.Reports[0]
	if first.Durable != nil || rs.Median.EndToEndVsExec > 0 {
		fmt.Fprintln(w, "median of the per-round ratios:")
	}
	if first.Bare != nil && first.Durable != nil {
		fmt.Fprintf(w, "  throughput vs bare floor     %6.2fx\n", rs.Median.ThroughputVsBare)
	}
	if first.Durable != nil {
		fmt.Fprintf(w, "  throughput vs durable floor  %6.2fx\n", rs.Median.ThroughputVsDurable)
		fmt.Fprintf(w, "  ack p99 vs durable floor     %6.2fx\n", rs.Median.P99VsDurable)
	}
	if rs.Median.EndToEndVsExec > 0 {
		fmt.Fprintf(w, "  end to end vs fork/exec floor %5.1fx\n", rs.Median.EndToEndVsExec)
	}
	fmt.Fprintln(w)
	printChecks(w, "targets (ratios: the median; every other check: each round):", rs.Checks)
}

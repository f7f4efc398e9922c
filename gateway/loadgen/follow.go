package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Progress is the processing state of a gateway at one moment.
type Progress struct {
	// Backlog is the number of deliveries stored and not yet final
	// (queued or running).
	Backlog int64
	// AtLeast says Backlog is a lower bound: the source caps its count.
	AtLeast bool
	// Processed counts deliveries that reached a final state since the
	// gateway started; -1 when the source does not say.
	Processed int64
	// RSS is the gateway's resident memory in bytes; 0 when unknown.
	RSS int64
}

// Follower reads a gateway's progress while the load runs.
type Follower interface {
	// Source names where the figures come from ("metrics", "admin API").
	Source() string
	Sample(ctx context.Context) (Progress, error)
}

// Metric names read by MetricsFollower (Prometheus text format).
const (
	// MetricBacklog is a gauge of stored deliveries by status; the series
	// with status "queued" or "running" (or without a status label) are
	// summed.
	MetricBacklog = "hookgate_queue_depth"
	// MetricProcessed counts deliveries that reached a final state.
	MetricProcessed = "hookgate_deliveries_processed_total"
	// MetricRSS is the process collector's resident memory.
	MetricRSS = "process_resident_memory_bytes"
)

// MetricsFollower reads GET /metrics of a gateway.
type MetricsFollower struct {
	URL    string // base URL of the gateway
	Client *http.Client
}

// Source implements Follower.
func (m *MetricsFollower) Source() string { return "metrics" }

// Sample implements Follower. It fails when the backlog gauge is missing.
func (m *MetricsFollower) Sample(ctx context.Context) (Progress, error) {
	body, err := get(ctx, m.Client, strings.TrimSuffix(m.URL, "/")+"/metrics", "")
	if err != nil {
		return Progress{}, err
	}
	return parseMetrics(body)
}

// parseMetrics reads the three metrics out of a Prometheus text exposition.
func parseMetrics(body []byte) (Progress, error) {
	p := Progress{Processed: -1}
	sawBacklog := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case MetricBacklog:
			st := labelValue(labels, "status")
			if st == "" || st == "queued" || st == "running" {
				p.Backlog += int64(value)
				sawBacklog = true
			}
		case MetricProcessed:
			if p.Processed < 0 {
				p.Processed = 0
			}
			p.Processed += int64(value)
		case MetricRSS:
			p.RSS = int64(value)
		}
	}
	if !sawBacklog {
		return Progress{}, fmt.Errorf("loadgen: metrics: no %s series", MetricBacklog)
	}
	return p, nil
}

// splitSample splits `name{labels} value [timestamp]`.
func splitSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return "", "", 0, false
		}
		name, rest = line[:i], line[i:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return name, labels, v, true
}

// labelValue finds label="value" in a label list (values without escapes).
func labelValue(labels, name string) string {
	for part := range strings.SplitSeq(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// AdminFollower reads the backlog from the admin API: the queued and the
// running deliveries, each listed up to AdminListLimit (a larger backlog
// is reported as a lower bound). It does not know the processed count.
type AdminFollower struct {
	URL    string // base URL of the admin API (the receiver's unless [admin] listen is set)
	Token  string // the admin bearer token
	Client *http.Client
}

// AdminListLimit is the most deliveries one admin API page holds.
const AdminListLimit = 1000

// Source implements Follower.
func (a *AdminFollower) Source() string { return "admin API" }

// Sample implements Follower.
func (a *AdminFollower) Sample(ctx context.Context) (Progress, error) {
	p := Progress{Processed: -1}
	for _, st := range []string{"queued", "running"} {
		u := fmt.Sprintf("%s/api/v1/deliveries?status=%s&limit=%d", strings.TrimSuffix(a.URL, "/"), st, AdminListLimit)
		body, err := get(ctx, a.Client, u, a.Token)
		if err != nil {
			return Progress{}, err
		}
		var page struct {
			Deliveries []struct {
				ID string `json:"id"`
			} `json:"deliveries"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return Progress{}, fmt.Errorf("loadgen: admin API: %w", err)
		}
		p.Backlog += int64(len(page.Deliveries))
		if len(page.Deliveries) >= AdminListLimit {
			p.AtLeast = true
		}
	}
	return p, nil
}

// get fetches url (with a bearer token when set) and returns the body of a
// 200 answer.
func get(ctx context.Context, c *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("loadgen: read %s: %w", req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: GET %s: status %d", req.URL.Path, resp.StatusCode)
	}
	return body, nil
}

// Detect picks how to follow the gateway at url: its /metrics when they
// carry the backlog gauge, else the admin API when adminToken is set (at
// adminURL, or url when empty), else nil.
func Detect(ctx context.Context, url, adminURL, adminToken string) (Follower, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	m := &MetricsFollower{URL: url, Client: c}
	if _, err := m.Sample(ctx); err == nil {
		return m, nil
	}
	if adminToken == "" {
		return nil, nil
	}
	if adminURL == "" {
		adminURL = url
	}
	a := &AdminFollower{URL: adminURL, Token: adminToken, Client: c}
	if _, err := a.Sample(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// ProcRSS returns a reader of the resident memory of process pid (VmRSS),
// from /proc (Linux).
func ProcRSS(pid int) func() (int64, error) { return procStatus(pid, "VmRSS:") }

// ProcAnonRSS returns a reader of the anonymous part of process pid's
// resident memory (RssAnon: heap, stacks; not the pages of mapped files
// such as the store, which the kernel can drop), from /proc (Linux).
func ProcAnonRSS(pid int) func() (int64, error) { return procStatus(pid, "RssAnon:") }

// procStatus reads a "NAME: 123 kB" line of /proc/PID/status, in bytes.
func procStatus(pid int, name string) func() (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	return func() (int64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("loadgen: rss: %w", err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name); ok {
				f := strings.Fields(v) // "123456 kB"
				if len(f) == 2 && f[1] == "kB" {
					n, err := strconv.ParseInt(f[0], 10, 64)
					if err == nil {
						return n << 10, nil
					}
				}
			}
		}
		return 0, fmt.Errorf("loadgen: rss: no %s line", name)
	}
}

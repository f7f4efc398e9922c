// Package loadgen owns hookgate's load tool (`hookgate bench`): it fires
// real GitLab deliveries at a running gateway over loopback HTTP from N
// keep-alive connections, for a duration or a count, and reports the
// accepted requests per second, the acknowledgement latency (p50, p90,
// p99, max, from a log-linear histogram), the answers by status, and — by
// following the gateway's /metrics or admin API — how fast the accepted
// events were processed end to end and how the backlog evolved.
//
// In the same invocation it can run two floor servers first, with the same
// load, and print the gateway's figures as ratios to them (see Floor): on
// a shared, noisy machine, ratios measured side by side are the figures
// that count.
//
// Only loopback targets are accepted.
package loadgen

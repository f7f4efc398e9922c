package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target for the gateway
// (serve, and bench --self measuring it) unless GOGC is set: the heap may
// grow by half its live size between collections instead of doubling.
// Memory for CPU: over 10-minute runs the resident set peaked at 125 MiB
// instead of 146 (anonymous 55 instead of 72), under the 150 MiB target
// with room; at full end-to-end load on 2 cores it costs about 15% of
// the events processed per second, while durable ingest alone is
// unchanged (docs/performance.md, Memory). GOGC=100 takes the CPU back.
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent unless GOGC says otherwise.
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

//go:build race

package plugins

// raceEnabled: tests scale down work the race detector makes slow.
const raceEnabled = true

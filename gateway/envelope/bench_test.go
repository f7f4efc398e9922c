package envelope

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkNormalize measures Normalize on each shared fixture, the way the
// receiver calls it on every delivery.
func BenchmarkNormalize(b *testing.B) {
	for _, fx := range loadSharedFixtures(b) {
		name := strings.TrimSuffix(filepath.Base(fx.file), ".json")
		b.Run(name, func(b *testing.B) {
			body, err := os.ReadFile(fx.file)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(fx.event, body, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

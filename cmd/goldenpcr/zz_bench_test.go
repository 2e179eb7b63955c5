package main

import (
	"os"
	"testing"
)

func BenchmarkZZLineParallel(b *testing.B) {
	line, _ := os.ReadFile("/tmp/line.json")
	r := &batchRunner{dir: "/tmp"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.verifyLine(1, line, "")
		}
	})
}

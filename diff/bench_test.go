package diff

import "testing"

func BenchmarkCompareRHEL8(b *testing.B) {
	orig := readFixture(b, rhel8)
	for b.Loop() {
		e, a := logSide(b, "a", orig), logSide(b, "b", orig)
		if _, err := Compare(e, a, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

package refvals

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// allocated returns the bytes f allocates on the heap (freed or not: a
// bomb the GC keeps up with still costs its time).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// simulateGRUB returns what simulating cfg allocates and its error.
func simulateGRUB(cfg string) (alloc uint64, err error) {
	alloc = allocated(func() {
		_, err = GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)"})
	})
	return alloc, err
}

// A few hundred bytes that double a variable per line would need 16 <<
// n bytes for its value alone.
func TestGRUBVariableDoublingIsRefused(t *testing.T) {
	lineOf := regexp.MustCompile(`^grub\.cfg line (\d+): .*\$a\b`)
	for _, n := range []int{22, 30} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			cfg := "set a=0123456789abcdef\n" + strings.Repeat("set a=$a$a\n", n)
			alloc, err := simulateGRUB(cfg)
			t.Logf("%s allocated: %v", mib(alloc), err)
			if alloc > 64<<20 {
				t.Errorf("%s allocated for a %d-byte grub.cfg", mib(alloc), len(cfg))
			}
			if err == nil {
				t.Fatal("doubling accepted")
			}
			m := lineOf.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q does not name the line and $a", err)
			}
			if line, _ := strconv.Atoi(m[1]); line < 2 || line > n+1 {
				t.Errorf("error %q names line %d of %d", err, line, n+1)
			}
		})
	}
}

// Four times the input may cost at most about four times the work,
// whatever the shape of the configuration.
func TestGRUBWorkIsLinear(t *testing.T) {
	// repeat fills size bytes with unit.
	repeat := func(unit string, size int) string { return strings.Repeat(unit, size/len(unit)) }
	for _, s := range []struct {
		name string
		cfg  func(size int) string
		err  string // the error's pattern, "" if simulated
	}{
		{"nested menuentry", func(size int) string {
			return repeat("menuentry 'a' {\n", size*8/9) + repeat("}\n", size/9)
		}, `^grub\.cfg line 2: `},
		{"sequential menuentry", func(size int) string { return repeat("menuentry 'a' {\n insmod tpm\n}\n", size) }, ""},
		{"one long menuentry", func(size int) string { return "menuentry 'a' {\n" + repeat(" insmod tpm\n", size) + "}\n" }, ""},
		// $a grows by two bytes a line: quadratic until the budget ends it.
		{"growing variable", func(size int) string { return "set b=xy\n" + repeat("set a=$a$b\n", size) }, `^grub\.cfg line \d+: .*\$a\b`},
	} {
		t.Run(s.name, func(t *testing.T) {
			var allocs [2]uint64
			for i, size := range []int{256 << 10, 1 << 20} {
				cfg := s.cfg(size)
				alloc, err := simulateGRUB(cfg)
				if s.err == "" && err != nil || s.err != "" && (err == nil || !regexp.MustCompile(s.err).MatchString(err.Error())) {
					t.Fatalf("%d bytes: err %v, want %q", len(cfg), err, s.err)
				}
				allocs[i] = alloc
			}
			t.Logf("%s allocated for 256 KiB, %s for 1 MiB", mib(allocs[0]), mib(allocs[1]))
			// The slack covers the allocation counter's granularity when
			// both are small.
			if allocs[1] > 5*allocs[0]+1<<20 {
				t.Error("more than linear")
			}
		})
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Expansions are charged to the budget, inside double quotes too, and
// the one that does not fit is named.
func TestGRUBWordsBudget(t *testing.T) {
	vars := map[string]string{"k": "vmlinuz", "long": strings.Repeat("x", 100)}
	budget := 3 * len("vmlinuz") // exactly what the first line expands
	if w, err := grubWords(`linux /$k "$k ${k}" '$long'`, vars, &budget); err != nil || strings.Join(w, "|") != "linux|/vmlinuz|vmlinuz vmlinuz|$long" || budget != 0 {
		t.Errorf("words %q, %v, budget left %d", w, err, budget)
	}
	if _, err := grubWords(`linux "a $long"`, vars, &budget); err == nil || !strings.Contains(err.Error(), "$long") {
		t.Errorf("err %v, want one naming $long", err)
	}
}

// A block opening inside a menuentry, even one never booted, would end
// it at the wrong "}".
func TestGRUBRefusesNestedBlocks(t *testing.T) {
	for _, opener := range []string{"menuentry 'c' {", "submenu 'c' {", "function f {"} {
		cfg := "menuentry 'a' {\n insmod tpm\n}\nmenuentry 'b' {\n\t" + opener + "\n }\n}\n"
		_, err := GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)"})
		if want := "grub.cfg line 5: " + strings.Fields(opener)[0] + " inside a menuentry block"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", opener, err, want)
		}
	}
}

// A file opened on every line is read and hashed once: 20000 initrd
// lines naming a 1 MiB file cost about one file, not 20 GiB of hashing.
func TestGRUBFileReadOnce(t *testing.T) {
	big := writeFile(t, t.TempDir(), "big", make([]byte, 1<<20))
	cfg := strings.Repeat("initrd /big\n", 20000)
	var err error
	alloc := allocated(func() {
		_, err = GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)", Files: map[string]string{"/big": big}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if alloc > 128<<20 {
		t.Errorf("%s allocated", mib(alloc))
	}
}

package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
)

// DefaultCacheDir is where the lab keeps downloads, built artifacts and
// captures: $GOLDENPCR_LAB_CACHE, else $XDG_CACHE_HOME/goldenpcr-lab, else
// /var/tmp/goldenpcr-lab. It is never inside the repository.
func DefaultCacheDir() string {
	if d := os.Getenv("GOLDENPCR_LAB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "goldenpcr-lab")
	}
	return "/var/tmp/goldenpcr-lab"
}

// keyer accumulates the inputs of a cached step; its sum names the step's
// directory, so changing any input builds (or boots) again.
type keyer struct {
	parts []string
}

func newKey(kind string) *keyer {
	return &keyer{parts: []string{"kind=" + kind, "lab-format=" + formatVersion}}
}

// newDownloadKey keys an entry that only its named inputs decide (a
// download, a manufactured TPM): the lab's own format does not matter.
func newDownloadKey(kind string) *keyer { return &keyer{parts: []string{"kind=" + kind}} }

// formatVersion changes whenever the lab's own way of building or booting
// changes in a way the hashed inputs do not show.
const formatVersion = "4"

func (k *keyer) add(name, value string) *keyer {
	k.parts = append(k.parts, name+"="+value)
	return k
}

func (k *keyer) bytes(name string, b []byte) *keyer {
	s := sha256.Sum256(b)
	return k.add(name, hex.EncodeToString(s[:]))
}

func (k *keyer) file(name, path string) error {
	h, err := baseline.FileSHA256(path)
	if err != nil {
		return err
	}
	k.add(name, h)
	return nil
}

// files adds several files, in name order.
func (k *keyer) files(m map[string]string) error {
	for _, name := range sortedKeys(m) {
		if err := k.file(name, m[name]); err != nil {
			return err
		}
	}
	return nil
}

func (k *keyer) sum() string {
	s := sha256.Sum256([]byte(strings.Join(k.parts, "\n")))
	return hex.EncodeToString(s[:8])
}

// cached returns dir/<kind>-<key> if a previous run completed it, and
// otherwise runs build in a fresh temporary directory beside it and moves
// that into place, so an interrupted build never leaves a half-made entry.
func (l *Lab) cached(kind string, k *keyer, build func(dir string) error) (string, error) {
	final := filepath.Join(l.Cache, "build", kind+"-"+k.sum())
	if _, err := os.Stat(filepath.Join(final, ".complete")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+kind+"-*")
	if err != nil {
		return "", err
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	inputs := strings.Join(k.parts, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(tmp, ".inputs"), []byte(inputs), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		// Another run may have finished the same entry first.
		if _, serr := os.Stat(filepath.Join(final, ".complete")); serr == nil {
			os.RemoveAll(tmp)
			return final, nil
		}
		return "", err
	}
	return final, nil
}

// copyFile copies src to dst with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

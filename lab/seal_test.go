package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/client"
	pb "github.com/google/go-tpm-tools/proto/tpm"
	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// TestSealOpensOnPredictedBoot is docs/seal.md's story on real boots: a
// build pipeline computes the uki variant's golden values from its
// artifacts (the UKI and the firmware's variable store), seals a secret to
// them and to the lab TPM's EK, and the TPM the uki boot left opens it;
// the same TPM after every other real boot of the lab (the same UKI under
// systemd-boot or with secure boot on, GRUB, shim, …) does not. All the
// lab's boots start from one manufactured TPM, so the EK is the same in
// each and only the boot differs.
func TestSealOpensOnPredictedBoot(t *testing.T) {
	bin := goldenpcrBinary(t)
	cs := allCaptures(t)
	c := cs["uki"]
	dir := t.TempDir()
	golden := filepath.Join(dir, "golden.yaml")
	goldenpcr(t, bin, "refvals", "compute", "--efi-vars", firmwareVars(t, c), "--uki", c.Path("uki.efi"), "-O", golden)

	tpm := resumeCopy(t, c)
	ekPub := filepath.Join(dir, "ek.pub")
	if _, err := tpm.tpm2(dir, "tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", ekPub); err != nil {
		t.Fatal(err)
	}
	secret := []byte("the uki boot's disk key")
	if err := os.WriteFile(filepath.Join(dir, "secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	blobPath := filepath.Join(dir, "secret.blob")
	out := goldenpcr(t, bin, "seal", "--ek", ekPub, "--baseline", golden, "--pcrs", "sha256:4,7,9,11",
		"--in", filepath.Join(dir, "secret"), "-O", blobPath)
	t.Logf("goldenpcr seal:\n%s", out)
	data, err := os.ReadFile(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	var blob pb.ImportBlob
	if err := proto.Unmarshal(data, &blob); err != nil {
		t.Fatal(err)
	}
	got, err := importOn(tpm, &blob)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the predicted boot's TPM: %q, %v", got, err)
	}
	tpm.stop()

	for _, v := range Variants {
		if v.Name == "uki" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			other := resumeCopy(t, cs[v.Name])
			pub := filepath.Join(t.TempDir(), "ek.pub")
			if _, err := other.tpm2(filepath.Dir(pub), "tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", pub); err != nil {
				t.Fatal(err)
			}
			if a, b := readFile(t, pub), readFile(t, ekPub); !bytes.Equal(a, b) {
				t.Fatalf("the %s boot's TPM has another EK", v.Name)
			}
			var moved []string
			for _, i := range []int{4, 7, 9, 11} {
				if !bytes.Equal(cs[v.Name].PCRs[pcr.SHA256][i], c.PCRs[pcr.SHA256][i]) {
					moved = append(moved, fmt.Sprint(i))
				}
			}
			t.Logf("%s: sealed PCRs that differ from the uki boot: %s", v.Name, strings.Join(moved, ", "))
			// The blob imports (same EK) but the PCR policy refuses to
			// unseal: this boot measured something else.
			if got, err := importOn(other, &blob); err == nil || !strings.Contains(err.Error(), "unseal") {
				t.Errorf("opened on the %s boot: %q, %v", v.Name, got, err)
			}
		})
	}
}

// resumeCopy resumes swtpm on a copy of the TPM state a capture's boot
// left, so the cached capture stays as it was.
func resumeCopy(t *testing.T, c *Capture) *swtpmProc {
	t.Helper()
	state := filepath.Join(t.TempDir(), "tpm")
	if err := copyDir(c.Path("tpm"), state); err != nil {
		t.Fatal(err)
	}
	p, err := startSwtpmResumed(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

// importOn imports blob under the EK of the resumed TPM p with go-tpm-tools'
// client, as a device would, and returns the unsealed secret.
func importOn(p *swtpmProc, blob *pb.ImportBlob) ([]byte, error) {
	// Without a resource manager tpm2_createek's EK stays loaded.
	if _, err := p.tpm2("", "tpm2_flushcontext", "-t"); err != nil {
		return nil, err
	}
	rw, err := swtpmtest.Dial(p.port)
	if err != nil {
		return nil, err
	}
	defer rw.Close()
	ek, err := client.EndorsementKeyRSA(rw)
	if err != nil {
		return nil, err
	}
	defer ek.Close()
	return ek.Import(blob)
}

func goldenpcr(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("goldenpcr %q: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

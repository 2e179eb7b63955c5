package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"strings"
	"testing"

	pb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/google/go-tpm-tools/server"
	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/policy"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

func parsePublic(t *testing.T, pub tpm2.Public) *tpmstruct.TPMTPublic {
	t.Helper()
	area, err := pub.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, err := tpmstruct.ParseTPM2BPublic(append(binary.BigEndian.AppendUint16(nil, uint16(len(area))), area...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckEKTemplate(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := server.CreateEKPublicAreaFromKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckEKTemplate(parsePublic(t, ek), key.Public()); err != nil {
		t.Errorf("the default EK template: %v", err)
	}
	// The same key with another policy (an AK's, say) is not that EK.
	ek.AuthPolicy = bytes.Repeat([]byte{1}, 32)
	if err := CheckEKTemplate(parsePublic(t, ek), key.Public()); err == nil || !strings.Contains(err.Error(), "not the TCG default EK template") {
		t.Errorf("another authPolicy: %v", err)
	}
}

func TestSecretRefusals(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := pcr.ParseSelection("sha256:7")
	v := pcr.Values{}
	v.Set(pcr.SHA256, 7, bytes.Repeat([]byte{7}, 32))
	_, d, err := policy.PolicyPCR(pcr.SHA256, sel, v)
	if err != nil {
		t.Fatal(err)
	}
	one := &policy.PCRPolicy{Hash: pcr.SHA256, Selection: sel, Branches: []policy.Branch{{Values: v, Digest: d}}, Digest: d}
	blob, err := Secret(key.Public(), one, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	two, _ := pcr.ParseSelection("sha1:7+sha256:7")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"an empty secret":   {err: second(Secret(key.Public(), one, nil)), want: "empty"},
		"two banks":         {err: second(Secret(key.Public(), &policy.PCRPolicy{Hash: pcr.SHA256, Selection: two, Branches: one.Branches}, []byte("k"))), want: "one bank"},
		"a SHA-1 session":   {err: second(Secret(key.Public(), &policy.PCRPolicy{Hash: pcr.SHA1, Selection: sel, Branches: one.Branches}, []byte("k"))), want: "SHA-256 session"},
		"PolicyOR":          {err: second(Secret(key.Public(), &policy.PCRPolicy{Hash: pcr.SHA256, Selection: sel, Branches: append(one.Branches, one.Branches...)}, []byte("k"))), want: "seal once per variant"},
		"a wrong digest":    {err: second(Secret(key.Public(), &policy.PCRPolicy{Hash: pcr.SHA256, Selection: sel, Branches: one.Branches, Digest: make([]byte, 32)}, []byte("k"))), want: "authPolicy"},
		"an EC signing key": {err: second(SigningKey(key.Public(), one, ec)), want: "must be RSA"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, c.err, c.want)
		}
	}

	tt, err := ForTPM2Tools(blob)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][2][]byte{"public": {tt.Public, blob.PublicArea}, "duplicate": {tt.Duplicate, blob.Duplicate}, "seed": {tt.Seed, blob.EncryptedSeed}} {
		if int(binary.BigEndian.Uint16(p[0])) != len(p[1]) || !bytes.Equal(p[0][2:], p[1]) {
			t.Errorf("%s is not a TPM2B of the blob's bytes", name)
		}
	}
	if _, err := ForTPM2Tools(&pb.ImportBlob{PublicArea: blob.PublicArea}); err == nil {
		t.Error("a blob without a duplicate converted")
	}
}

func second[T any](_ T, err error) error { return err }

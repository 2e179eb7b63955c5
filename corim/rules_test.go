package corim

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/veraison/corim/comid"
	vcorim "github.com/veraison/corim/corim"
	"github.com/veraison/swid"
)

// rebuild decodes the CoMID of a golden CoRIM without the profile's rules,
// breaks it with mutate, and wraps it again under the same profile, so
// the rules see exactly one mistake.
func rebuild(t *testing.T, golden string, mutate func(*comid.Comid)) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + golden)
	if err != nil {
		t.Fatal(err)
	}
	uc := vcorim.NewUnsignedCorim()
	if err := uc.FromCBOR(data); err != nil {
		t.Fatal(err)
	}
	cm := comid.NewComid()
	if err := cm.FromCBOR(uc.Tags[0].Content); err != nil {
		t.Fatal(err)
	}
	mutate(cm)
	content, err := cm.ToCBOR()
	if err != nil {
		t.Fatalf("the broken CoMID does not even encode: %v", err)
	}
	uc.Tags[0].Content = content
	out, err := uc.ToCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func firstRV(cm *comid.Comid) *comid.ValueTriple { return &cm.Triples.ReferenceValues.Values[0] }

func firstKT(cm *comid.Comid) *comid.KeyTriple { return &(*cm.Triples.AttestVerifKeys)[0] }

func pemKey(t *testing.T, name string) *comid.CryptoKey {
	k, err := pkixPEM(testAK(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBrokenCopiesRejected breaks one rule at a time and checks that both
// Decode and the corim library's own validating decoder (through the
// registered profile) refuse the copy, for the stated reason.
func TestBrokenCopiesRejected(t *testing.T) {
	otherUUID := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	cases := []struct {
		name, golden, want string
		mutate             func(*comid.Comid)
	}{
		{"key id 32 bytes", "parsec-tpm.cbor", "instance (key id) is 32 bytes", func(c *comid.Comid) {
			firstKT(c).Environment.Instance = comid.MustNewBytesInstance(make([]byte, 32))
		}},
		{"key id not 0x01", "parsec-tpm.cbor", "33 bytes starting 0x02", func(c *comid.Comid) {
			id := make([]byte, 33)
			id[0] = 2
			firstKT(c).Environment.Instance = comid.MustNewBytesInstance(id)
		}},
		{"key id missing", "parsec-tpm.cbor", "instance (the key id) is missing", func(c *comid.Comid) {
			firstKT(c).Environment.Instance = nil
		}},
		{"two keys", "parsec-tpm.cbor", "2 verification keys, want exactly 1", func(c *comid.Comid) {
			kt := firstKT(c)
			kt.VerifKeys = append(kt.VerifKeys, kt.VerifKeys[0])
		}},
		{"mkey missing", "parsec-tpm.cbor", "mkey (the PCR index) is missing", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Key = nil
		}},
		{"mkey string", "parsec-tpm.cbor", "mkey is of type string", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Key = comid.MustNewMkey("pcr0", comid.StringType)
		}},
		{"mkey 24", "parsec-tpm.cbor", "mkey 24 is not a PCR index", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Key = comid.MustNewMkey(uint64(24), comid.UintType)
		}},
		{"digests missing", "parsec-tpm.cbor", "digests are missing", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Val.Digests = nil
			firstRV(c).Measurements.Values[0].Val.Name = ptr("no digest")
		}},
		{"digest algorithm sha3-256", "parsec-tpm.cbor", "algorithm id 10, want sha-256, sha-384 or sha-512", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Val.Digests = comid.NewDigests().AddDigest(swid.Sha3_256, make([]byte, 32))
		}},
		{"PCR twice in one triple", "parsec-tpm.cbor", "PCR 0 appears twice", func(c *comid.Comid) {
			rv := firstRV(c)
			m := rv.Measurements.Values[0]
			rv.Measurements.Add(&m)
		}},
		{"reference value with instance", "parsec-tpm.cbor", "has an instance", func(c *comid.Comid) {
			firstRV(c).Environment.Instance = comid.MustNewBytesInstance(make([]byte, 33))
		}},
		{"class-id missing", "parsec-tpm.cbor", "class-id is missing", func(c *comid.Comid) {
			firstRV(c).Environment.Class = nil
			firstRV(c).Environment.Group = nil
			firstRV(c).Environment.Instance = nil
			firstRV(c).Environment.Class = &comid.Class{Vendor: ptr("acme")}
		}},
		{"class-id differs", "parsec-tpm.cbor", "differs from class-id", func(c *comid.Comid) {
			firstRV(c).Environment.Class = comid.NewClassUUID(comid.UUID(otherUUID))
		}},
		{"class-id bytes", "parsec-tpm.cbor", "class-id is of type bytes, want uuid", func(c *comid.Comid) {
			firstKT(c).Environment.Class = comid.NewClassBytes(make([]byte, 16))
		}},
		{"RSA key for ENACTTRUST", "enacttrust.cbor", "verification key is RSA-2048, want ECDSA", func(c *comid.Comid) {
			firstKT(c).VerifKeys = comid.CryptoKeys{pemKey(t, "ak-rsa.pem")}
		}},
		{"ENACTTRUST two measurements", "enacttrust.cbor", "2 measurements, want exactly 1", func(c *comid.Comid) {
			rv := firstRV(c)
			m := rv.Measurements.Values[0]
			rv.Measurements.Add(&m)
		}},
		{"ENACTTRUST mkey", "enacttrust.cbor", "has an mkey", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Key = comid.MustNewMkey(uint64(0), comid.UintType)
		}},
		{"ENACTTRUST two digests", "enacttrust.cbor", "2 digests, want exactly 1", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Val.Digests.AddDigest(swid.Sha384, make([]byte, 48))
		}},
		{"ENACTTRUST sha-384 digest", "enacttrust.cbor", "digest algorithm sha-384, want sha-256", func(c *comid.Comid) {
			firstRV(c).Measurements.Values[0].Val.Digests = comid.NewDigests().AddDigest(swid.Sha384, make([]byte, 48))
		}},
		{"ENACTTRUST class", "enacttrust.cbor", "has a class or group", func(c *comid.Comid) {
			firstKT(c).Environment.Class = comid.NewClassUUID(comid.UUID(otherUUID))
		}},
		{"ENACTTRUST node id bytes", "enacttrust.cbor", "instance is of type bytes, want uuid", func(c *comid.Comid) {
			firstRV(c).Environment.Instance = comid.MustNewBytesInstance(make([]byte, 16))
		}},
		{"ENACTTRUST node ids differ", "enacttrust.cbor", "differs from node id", func(c *comid.Comid) {
			firstRV(c).Environment.Instance = comid.MustNewUUIDInstance(otherUUID)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := rebuild(t, tc.golden, tc.mutate)
			_, err := Decode(data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: got %v, want an error containing %q", err, tc.want)
			}
			if _, err := vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the corim library with the registered profile: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUnbrokenCopyAccepted is the control: rebuilding without a change
// gives a CoRIM both decoders accept.
func TestUnbrokenCopyAccepted(t *testing.T) {
	for _, g := range []string{"parsec-tpm.cbor", "enacttrust.cbor", "enacttrust-legacy.cbor"} {
		data := rebuild(t, g, func(*comid.Comid) {})
		if _, err := Decode(data); err != nil {
			t.Errorf("%s: %v", g, err)
		}
		if _, err := vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); err != nil {
			t.Errorf("%s: library: %v", g, err)
		}
	}
}

func TestDefaultKeyID(t *testing.T) {
	k := testAK(t, "ak-rsa.pem")
	id, err := DefaultKeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(k)
	h := sha256.Sum256(der)
	if want := append([]byte{1}, h[:]...); !bytes.Equal(id, want) {
		t.Fatalf("key id %x, want %x", id, want)
	}
}

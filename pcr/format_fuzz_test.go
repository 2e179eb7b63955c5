package pcr_test

import (
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Every reader has a FuzzParse target seeded from real samples. Each
// asserts that Parse never panics and that whatever it accepts re-marshals
// in the same format and reads back to equal values.

func fuzzRoundTrip(t *testing.T, data []byte, opts pcr.ReadOptions) {
	doc, err := pcr.Parse(data, opts)
	if err != nil {
		return
	}
	for _, set := range doc.Sets {
		if err := set.Validate(); err != nil || set.Len() == 0 {
			t.Fatalf("accepted an invalid set (%v): %s", err, describe(set))
		}
	}
	out, err := pcr.MarshalWith(doc.Format, doc.Sets, pcr.MarshalOptions{BankOrder: doc.BankOrder})
	if err != nil {
		t.Fatalf("accepted %s input does not re-marshal: %v", doc.Format, err)
	}
	opts.Format = doc.Format
	doc2, err := pcr.Parse(out, opts)
	if err != nil {
		t.Fatalf("re-marshaled %s does not parse: %v\n%q", doc.Format, err, out)
	}
	if !setsEqual(doc.Sets, doc2.Sets) {
		t.Fatalf("%s round trip changed the values: %s → %s", doc.Format, describe(doc.Sets[0]), describe(doc2.Sets[0]))
	}
}

func addFixtures(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readFixture(f, n))
	}
}

func FuzzParseValues(f *testing.F) {
	addFixtures(f, "tpm2-pcrread-sha1-sha256.values")
	f.Add(make([]byte, 156))
	sel, err := pcr.ParseSelection("sha1:0,1,7+sha256:0,7,16")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatValues, Selection: sel})
	})
}

func FuzzParseSerialized(f *testing.F) {
	addFixtures(f, "tpm2-pcrread-sha1-sha256.serialized", "tpm2-pcrread-reversed.serialized",
		"tpm2-pcrread-spanning.serialized", "tpm2-pcrread-all-banks.serialized")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatSerialized})
	})
}

func FuzzParseMarshaled(f *testing.F) {
	addFixtures(f, "pcr-read-sha1-sha256.marshaled", "pcr-read-reversed.marshaled",
		"pcr-read-spanning.marshaled", "pcr-read-all-banks.marshaled")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatMarshaled})
	})
}

func FuzzParseTPM2YAML(f *testing.F) {
	addFixtures(f, "tpm2-pcrread-sha1-sha256.yaml", "tpm2-pcrread-reversed.yaml", "tpm2-pcrread-spanning.yaml")
	f.Add([]byte("pcrs:\n  sha1:\n    0 : 0x0000000000000000000000000000000000000003\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
	})
}

func FuzzParseYAML(f *testing.F) {
	addFixtures(f, "goldenpcr-sha1-sha256.yaml", "goldenpcr-alternatives.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatYAML})
	})
}

func FuzzParseCHARRA(f *testing.F) {
	addFixtures(f, "charra-reference-pcrs.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatCHARRA})
	})
}

func FuzzParseJSON(f *testing.F) {
	addFixtures(f, "goldenpcr-sha1-sha256.json", "goldenpcr-alternatives.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatJSON})
	})
}

func FuzzParseMap(f *testing.F) {
	addFixtures(f, "go-tpm-remote-attestation.map")
	f.Add([]byte("0:0000000000000000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatMap})
	})
}

func FuzzParseEvmctl(f *testing.F) {
	addFixtures(f, "evmctl-sha1.pcrs", "evmctl-sha256.pcrs", "sysfs-tpm12-style.pcrs")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{Format: pcr.FormatEvmctl})
	})
}

// FuzzParseDetect runs format detection over every sample.
func FuzzParseDetect(f *testing.F) {
	addFixtures(f, "tpm2-pcrread-sha1-sha256.serialized", "pcr-read-sha1-sha256.marshaled",
		"tpm2-pcrread-sha1-sha256.yaml", "goldenpcr-sha1-sha256.yaml", "goldenpcr-alternatives.json",
		"charra-reference-pcrs.yml", "go-tpm-remote-attestation.map", "evmctl-sha1.pcrs")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, pcr.ReadOptions{})
	})
}

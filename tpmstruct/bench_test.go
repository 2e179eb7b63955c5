package tpmstruct_test

import (
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// The parsers against go-tpm's tpm2.Unmarshal on the genuine RSA quote,
// its signature and its AK (docs/verify.md, "The TPM structure parsers").
// Ours copy the input once and keep offsets for errors; go-tpm walks the
// structures by reflection.

func benchParse(b *testing.B, file string, parse func([]byte) error) {
	data := testfixtures.Read(b, testfixtures.QuoteDir, file)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAttestOurs(b *testing.B) {
	benchParse(b, "rsa-quote.msg", func(d []byte) error { _, err := tpmstruct.ParseAttest(d); return err })
}

func BenchmarkAttestGoTPM(b *testing.B) {
	benchParse(b, "rsa-quote.msg", func(d []byte) error { _, err := tpm2.Unmarshal[tpm2.TPMSAttest](d); return err })
}

func BenchmarkSignatureOurs(b *testing.B) {
	benchParse(b, "rsa-quote.sig", func(d []byte) error { _, err := tpmstruct.ParseSignature(d); return err })
}

func BenchmarkSignatureGoTPM(b *testing.B) {
	benchParse(b, "rsa-quote.sig", func(d []byte) error { _, err := tpm2.Unmarshal[tpm2.TPMTSignature](d); return err })
}

func BenchmarkPublicOurs(b *testing.B) {
	benchParse(b, "rsa-ak.pub", func(d []byte) error { _, err := tpmstruct.ParseTPM2BPublic(d); return err })
}

func BenchmarkPublicGoTPM(b *testing.B) {
	benchParse(b, "rsa-ak.pub", func(d []byte) error {
		p, err := tpm2.Unmarshal[tpm2.TPM2BPublic](d)
		if err == nil {
			_, err = p.Contents()
		}
		return err
	})
}

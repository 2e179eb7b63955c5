package tpmstruct

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func TestParseAttestGenuine(t *testing.T) {
	nonce := testfixtures.Nonce(t)
	for _, g := range testfixtures.Genuine {
		t.Run(g.Name, func(t *testing.T) {
			raw := testfixtures.Read(t, testfixtures.QuoteDir, g.Name+".msg")
			// tpm2_quote -m writes a bare TPMS_ATTEST: the magic comes first.
			if binary.BigEndian.Uint32(raw) != GeneratedValue {
				t.Fatalf("tpm2_quote -m output starts %x, want the bare TPMS_ATTEST magic", raw[:4])
			}
			a, err := ParseAttest(raw)
			if err != nil {
				t.Fatal(err)
			}
			if a.Sized || a.Magic != GeneratedValue || a.Type != AttestQuote || a.Quote == nil {
				t.Fatalf("header: %+v", a)
			}
			if !bytes.Equal(a.ExtraData, nonce) {
				t.Errorf("extraData %x, want the nonce %x", a.ExtraData, nonce)
			}
			sel, err := a.Quote.Selection()
			if err != nil || sel.String() != "sha1:0-2+sha256:0,7,16" {
				t.Errorf("selection %v, %v", sel, err)
			}
			if len(a.QualifiedSigner) != 34 || len(a.Quote.PCRDigest) != 32 {
				t.Errorf("qualifiedSigner %d bytes, pcrDigest %d bytes", len(a.QualifiedSigner), len(a.Quote.PCRDigest))
			}
			if !bytes.Equal(a.Marshal(), raw) || !bytes.Equal(a.Raw, raw) {
				t.Error("Marshal does not reproduce the input")
			}
			// The same structure as TPM2B_ATTEST parses to the same fields.
			sized := binary.BigEndian.AppendUint16(nil, uint16(len(raw)))
			b, err := ParseAttest(append(sized, raw...))
			if err != nil || !b.Sized || !bytes.Equal(b.Raw, raw) || b.ClockInfo != a.ClockInfo {
				t.Errorf("TPM2B_ATTEST: %+v, %v", b, err)
			}
		})
	}
}

func TestParseAttestErrors(t *testing.T) {
	raw := testfixtures.Read(t, testfixtures.QuoteDir, "rsa-quote.msg")
	// Every truncation fails with a ParseError inside the input.
	for n := 0; n < len(raw); n++ {
		_, err := ParseAttest(raw[:n])
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("truncated to %d: %v, want *ParseError", n, err)
		}
		if pe.Offset > n {
			t.Fatalf("truncated to %d: offset %d beyond the input", n, pe.Offset)
		}
	}
	cases := []struct {
		name   string
		data   []byte
		offset int
		msg    string
	}{
		{"trailing byte", append(append([]byte{}, raw...), 0), len(raw), "1 trailing bytes"},
		// qualifiedSigner size at offset 6: 0xffff exceeds TPM2B_NAME.
		{"oversize name", patch(raw, 6, 0xff, 0xff), 6, "qualifiedSigner: size 65535 exceeds the maximum 66"},
		// safe is the byte after magic, type, name (2+34), extraData (2+16), clock, resetCount, restartCount.
		{"safe not YES/NO", patch(raw, 4+2+36+18+8+4+4, 2), 76, "clockInfo.safe is 2"},
		{"selection count", patch(raw, 85, 0, 0, 0, 17), 85, "pcrSelect.count 17 exceeds 16 banks"},
	}
	for _, c := range cases {
		_, err := ParseAttest(c.data)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Offset != c.offset || !strings.Contains(pe.Msg, c.msg) || pe.Struct == "" {
			t.Errorf("%s: %v, want a ParseError at %d saying %q", c.name, err, c.offset, c.msg)
		}
	}
	// Another attestation type is parsed, but not as a quote.
	a, err := ParseAttest(patch(raw, 4, 0x80, 0x17))
	if err != nil || a.Quote != nil || a.Type != AttestCertify || len(a.Attested) == 0 {
		t.Errorf("certify: %+v, %v", a, err)
	}
}

// patch returns a copy of b with bytes at off replaced.
func patch(b []byte, off int, with ...byte) []byte {
	c := append([]byte{}, b...)
	copy(c[off:], with)
	return c
}

func TestQuoteSelectionErrors(t *testing.T) {
	for _, c := range []struct {
		sel  []PCRSelection
		want string
	}{
		{[]PCRSelection{{Hash: 0x0099, Select: []byte{1}}}, "unsupported hash algorithm id 0x0099"},
		{[]PCRSelection{{Hash: pcr.SHA256, Select: []byte{1}}, {Hash: pcr.SHA256, Select: []byte{2}}}, "selected twice"},
		{[]PCRSelection{{Hash: pcr.SHA256, Select: []byte{0, 0, 0, 1}}}, "PCR 24 selected"},
	} {
		q := &QuoteInfo{PCRSelect: c.sel}
		if _, err := q.Selection(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.sel, err, c.want)
		}
	}
	// A bank with nothing selected adds nothing and is left out.
	q := &QuoteInfo{PCRSelect: []PCRSelection{{Hash: pcr.SHA1, Select: []byte{0, 0, 0}}, {Hash: pcr.SHA256, Select: []byte{0x81}}}}
	if sel, err := q.Selection(); err != nil || sel.String() != "sha256:0,7" {
		t.Errorf("%v, %v", sel, err)
	}
}

func TestParseSignatureGenuine(t *testing.T) {
	for _, c := range []struct {
		file   string
		scheme SigScheme
		size   int
	}{
		{"rsa-quote.sig", SchemeRSASSA, 256},
		{"rsapss-quote.sig", SchemeRSAPSS, 256},
		{"ecc-quote.sig", SchemeECDSA, 32},
	} {
		raw := testfixtures.Read(t, testfixtures.QuoteDir, c.file)
		s, err := ParseSignature(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if s.Scheme != c.scheme || s.Hash != pcr.SHA256 || len(s.RSA)+len(s.R) != c.size {
			t.Errorf("%s: %s", c.file, s)
		}
		if !bytes.Equal(s.Marshal(), raw) {
			t.Errorf("%s: Marshal does not reproduce the input", c.file)
		}
	}
	for _, c := range []struct {
		name   string
		data   []byte
		offset int
		msg    string
	}{
		{"unknown scheme", []byte{0x00, 0x99, 0, 0}, 0, "sigAlg 0x0099 is not a signature scheme"},
		{"oversize rsa", []byte{0x00, 0x14, 0x00, 0x0b, 0x02, 0x01}, 4, "sig: size 513 exceeds the maximum 512"},
		{"hmac unknown hash", []byte{0x00, 0x05, 0x00, 0x99}, 2, "hashAlg 0x0099"},
		{"trailing", []byte{0x00, 0x10, 0x00}, 2, "1 trailing bytes"},
		{"empty", nil, 0, "sigAlg: need 2 bytes"},
	} {
		_, err := ParseSignature(c.data)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Offset != c.offset || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("%s: %v, want offset %d %q", c.name, err, c.offset, c.msg)
		}
	}
}

func TestParsePlainSignature(t *testing.T) {
	der := testfixtures.Read(t, testfixtures.QuoteDir, "ecc-plain.sig")
	s, err := ParsePlainSignature(der, "ecdsa-sha256")
	if err != nil || s.Scheme != SchemeECDSA || s.Hash != pcr.SHA256 || !s.Plain {
		t.Fatalf("%v, %v", s, err)
	}
	// The same signature as raw r||s (32-byte halves).
	raw := append(make([]byte, 32-len(s.R)), s.R...)
	raw = append(raw, append(make([]byte, 32-len(s.S)), s.S...)...)
	r, err := ParsePlainSignature(raw, "ECDSA:SHA256")
	if err != nil || new(big.Int).SetBytes(r.R).Cmp(new(big.Int).SetBytes(s.R)) != 0 || new(big.Int).SetBytes(r.S).Cmp(new(big.Int).SetBytes(s.S)) != 0 {
		t.Errorf("raw r||s: %v, %v", r, err)
	}
	rs, err := ParsePlainSignature(testfixtures.Read(t, testfixtures.QuoteDir, "rsa-plain.sig"), "rsassa-sha256")
	if err != nil || len(rs.RSA) != 256 {
		t.Errorf("rsa: %v, %v", rs, err)
	}
	for _, c := range []struct {
		alg  string
		data []byte
		want string
	}{
		{"ecdsa", der, "want SCHEME-HASH"},
		{"dsa-sha256", der, `scheme "dsa"`},
		{"rsassa-md5", der, "unsupported hash"},
		{"ecdsa-sha256", []byte{1, 2, 3}, "neither DER"},
		{"rsapss-sha256", nil, "0 bytes"},
	} {
		if _, err := ParsePlainSignature(c.data, c.alg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.alg, err, c.want)
		}
	}
}

func TestParsePublicFormats(t *testing.T) {
	for _, name := range []string{"rsa", "ecc", "rsapss"} {
		t.Run(name, func(t *testing.T) {
			raw := testfixtures.Read(t, testfixtures.QuoteDir, name+"-ak.pub")
			tpm, err := ParsePublic(raw)
			if err != nil {
				t.Fatal(err)
			}
			if tpm.Format != "TPM2B_PUBLIC" || tpm.TPM == nil {
				t.Fatalf("format %q", tpm.Format)
			}
			p := tpm.TPM
			// tpm2_createak makes a restricted signing key.
			if want := AttrFixedTPM | AttrFixedParent | AttrSensitiveDataOrigin | AttrUserWithAuth | AttrRestricted | AttrSign; p.Attributes != want {
				t.Errorf("attributes %s, want %s", p.Attributes, want)
			}
			if !bytes.Equal(p.Marshal(), raw[2:]) {
				t.Error("Marshal does not reproduce the TPMT_PUBLIC")
			}
			// The Name is what tpm2_createak -n wrote.
			n, err := p.Name()
			if err != nil || !bytes.Equal(n, testfixtures.Read(t, testfixtures.QuoteDir, name+"-ak.name")) {
				t.Errorf("Name %x, %v; tpm2_createak wrote %x", n, err, testfixtures.Read(t, testfixtures.QuoteDir, name+"-ak.name"))
			}
			// Bare TPMT_PUBLIC.
			bare, err := ParsePublic(raw[2:])
			if err != nil || bare.Format != "TPMT_PUBLIC" {
				t.Fatalf("bare: %v, %v", bare, err)
			}
			pemKey, err := ParsePublic(testfixtures.Read(t, testfixtures.QuoteDir, name+"-ak.pem"))
			if err != nil || pemKey.Format != "PEM PUBLIC KEY" || pemKey.TPM != nil {
				t.Fatalf("pem: %v, %v", pemKey, err)
			}
			if !sameKey(pemKey.Key, tpm.Key) || !sameKey(bare.Key, tpm.Key) {
				t.Error("PEM, TPM2B_PUBLIC and TPMT_PUBLIC give different keys")
			}
			// DER SubjectPublicKeyInfo, and an X.509 certificate for the key
			// issued by a throw-away CA, in DER and PEM.
			spki, _ := pem.Decode(testfixtures.Read(t, testfixtures.QuoteDir, name+"-ak.pem"))
			der, err := ParsePublic(spki.Bytes)
			if err != nil || der.Format != "DER SubjectPublicKeyInfo" || !sameKey(der.Key, tpm.Key) {
				t.Errorf("DER: %v, %v", der, err)
			}
			cert := issueCert(t, tpm.Key)
			for _, in := range [][]byte{cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})} {
				c, err := ParsePublic(in)
				if err != nil || c.Certificate == nil || !sameKey(c.Key, tpm.Key) {
					t.Errorf("certificate: %v, %v", c, err)
				}
			}
		})
	}
	u, err := ParsePublic(testfixtures.Read(t, testfixtures.QuoteDir, "unrestricted-key.pub"))
	if err != nil || u.TPM.Attributes&AttrRestricted != 0 || u.TPM.Attributes&(AttrSign|AttrDecrypt) != AttrSign|AttrDecrypt || u.TPM.Scheme != SchemeNull {
		t.Errorf("unrestricted key: %+v, %v", u, err)
	}
	if got := u.TPM.Attributes.String(); got != "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt|sign" {
		t.Errorf("attribute names %q", got)
	}
}

func TestParsePublicErrors(t *testing.T) {
	raw := testfixtures.Read(t, testfixtures.QuoteDir, "ecc-ak.pub")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"keyedhash", []byte{0x00, 0x08, 0x00, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0}, "TPMT_PUBLIC at byte 0: type 0x0008 (keyedhash) is not an asymmetric key"},
		{"TPM2B size", append([]byte{0x00, 0x10}, raw[2:]...), "as a TPMT_PUBLIC"},
		{"point off the curve", patch(raw, len(raw)-1, raw[len(raw)-1]^1), "ECC point on P-256"},
		{"unknown PEM block", []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), "want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"},
		{"garbage DER", []byte{0x30, 0x03, 0x02, 0x01, 0x01}, "neither SubjectPublicKeyInfo"},
	} {
		if _, err := ParsePublic(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// keyBits must match the modulus.
	rsaRaw := testfixtures.Read(t, testfixtures.QuoteDir, "rsa-ak.pub")
	_, err := ParseTPM2BPublic(patch(rsaRaw, 18, 0x04, 0x00))
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "keyBits says 1024 bits") {
		t.Errorf("keyBits: %v", err)
	}
}

func sameKey(a, b any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// issueCert returns a DER certificate for pub signed by a fresh CA key.
func issueCert(t *testing.T, pub any) []byte {
	t.Helper()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "goldenpcr test AK"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, ca)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

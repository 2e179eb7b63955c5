package refvals

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"os"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// SecureBootPolicy is the secure-boot state a boot runs under, as read
// from a variable store or signature lists.
type SecureBootPolicy struct {
	// Known says the state was given (a variable store, signature lists
	// or the secure-boot switch); without it nothing is known.
	Known bool
	On    bool
	// PK, KEK, DB and DBX are EFI signature lists (nil when empty).
	PK, KEK, DB, DBX []byte
}

// StubDecision is whether firmware measures the kernel systemd-stub
// starts from a UKI's .linux section into PCR 4, and the rule that
// decided it.
type StubDecision struct {
	Measured bool
	Rule     string
}

// StubMeasuresKernel decides whether firmware measures the kernel PE
// systemd-stub hands to LoadImage. Never when it is no PE image: the stub
// then starts it through the EFI handover protocol, without LoadImage.
// With secure boot off, LoadImage runs the firmware's security handlers,
// which measure it. With secure boot on, the stub first replaces the
// security arch protocols so that they admit its embedded kernel without
// calling the firmware's handlers: the kernel is neither verified nor
// measured, whatever its signature. The lab's uki-sb-kernel boot shows
// it: a kernel signed by a db key, inside a UKI with systemd-stub 252,
// leaves no PCR 4 event.
func StubMeasuresKernel(kernel []byte, secureBoot bool) StubDecision {
	r := bytes.NewReader(kernel)
	if _, err := authenticode.Parse(r, int64(len(kernel))); err != nil {
		return StubDecision{false, fmt.Sprintf("the kernel is not a PE image (%v): systemd-stub starts it without LoadImage", err)}
	}
	if !secureBoot {
		return StubDecision{true, "secure boot off: systemd-stub's LoadImage of the kernel runs the firmware's handlers, which measure it"}
	}
	return StubDecision{false, "secure boot on: systemd-stub admits its embedded kernel through its own security override, so the firmware's handlers neither verify nor measure it, whatever its signature"}
}

// verifyImage decides, as UEFI firmware does with secure boot on, whether
// an image is allowed to run, and returns the db entry that allowed it
// (measured as the PCR 7 authority): refused when its Authenticode digest
// or a certificate of a signer chain is in dbx; allowed when one of its
// signatures signs the image's digest (the PKCS#7 signer's signature
// checked) with a signer chain that reaches a db certificate (one of the
// chain or its issuer), or when its digest is in db.
func verifyImage(img *authenticode.Image, r io.ReaderAt, db, dbx []eventlog.SignatureList) (eventlog.SignatureData, error) {
	sha256, err := img.Digest(r, pcr.SHA256)
	if err != nil {
		return eventlog.SignatureData{}, err
	}
	if e, ok := hashIn(dbx, sha256); ok {
		return e, fmt.Errorf("its Authenticode digest %x is in dbx", sha256)
	}
	sigs, err := img.Signatures(r)
	if err != nil {
		return eventlog.SignatureData{}, err
	}
	var allowed *eventlog.SignatureData
	for _, s := range sigs {
		alg, err := pcr.ParseAlg(s.DigestAlgorithm)
		if err != nil {
			continue
		}
		d, err := img.Digest(r, alg)
		if err != nil || !bytes.Equal(d, s.SignedDigest) {
			continue
		}
		chain, err := s.Signer()
		if err != nil {
			continue
		}
		if _, c := certIn(dbx, chain); c != nil {
			return eventlog.SignatureData{}, fmt.Errorf("its signing certificate %q is in dbx", c.Subject.String())
		}
		if e, c := certIn(db, chain); c != nil && allowed == nil {
			allowed = &e
		}
	}
	if allowed != nil {
		return *allowed, nil
	}
	if e, ok := hashIn(db, sha256); ok {
		return e, nil
	}
	if len(sigs) == 0 {
		return eventlog.SignatureData{}, fmt.Errorf("it is unsigned and its digest is not in db")
	}
	return eventlog.SignatureData{}, fmt.Errorf("no signature of it verifies against db")
}

// hashIn returns the EFI_CERT_SHA256 entry of the lists that holds the
// digest.
func hashIn(lists []eventlog.SignatureList, sha256 []byte) (eventlog.SignatureData, bool) {
	for _, l := range lists {
		if l.Type != eventlog.GUIDCertSHA256 {
			continue
		}
		for _, e := range l.Signatures {
			if bytes.Equal(e.Raw, sha256) {
				return e, true
			}
		}
	}
	return eventlog.SignatureData{}, false
}

// certIn returns the X.509 entry of the lists, and its certificate, that
// is one of chain or issued one of them; the certificate is nil if none.
func certIn(lists []eventlog.SignatureList, chain []*x509.Certificate) (eventlog.SignatureData, *x509.Certificate) {
	for _, l := range lists {
		if l.Type != eventlog.GUIDCertX509 {
			continue
		}
		for _, e := range l.Signatures {
			cert, err := x509.ParseCertificate(e.Raw)
			if err != nil {
				continue
			}
			for _, c := range chain {
				if bytes.Equal(c.Raw, cert.Raw) || c.CheckSignatureFrom(cert) == nil {
					return e, cert
				}
			}
		}
	}
	return eventlog.SignatureData{}, nil
}

// secureBootPolicy reads the secure-boot state the inputs give: the
// variable store's, with the signature lists and the switch given
// overriding it.
func (in *Inputs) secureBootPolicy() (SecureBootPolicy, error) {
	var p SecureBootPolicy
	if !in.secureBootWanted() {
		return p, nil
	}
	p.Known = true
	lists := [4]*[]byte{&p.PK, &p.KEK, &p.DB, &p.DBX}
	for i, path := range []string{in.PK, in.KEK, in.DB, in.DBX} {
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return p, err
		}
		if _, err := eventlog.ParseSignatureLists(data); err != nil {
			return p, fmt.Errorf("%s: not an EFI signature list: %w", path, err)
		}
		*lists[i] = data
	}
	p.On = in.SecureBoot != nil && *in.SecureBoot
	if in.EFIVars != "" {
		data, err := os.ReadFile(in.EFIVars)
		if err != nil {
			return p, err
		}
		store, err := ReadVarStore(data)
		if err != nil {
			return p, fmt.Errorf("%s: %w", in.EFIVars, err)
		}
		var fromStore [4][]byte
		var sb bool
		sb, fromStore[0], fromStore[1], fromStore[2], fromStore[3] = SecureBootFromVarStore(store)
		if in.SecureBoot == nil {
			p.On = sb
		}
		for i := range lists {
			if *lists[i] == nil {
				*lists[i] = fromStore[i]
			}
		}
	}
	return p, nil
}

// stubKernel decides whether firmware measures the UKI's kernel: as
// StubLoadsKernel says when given (the rule adds what the artifacts alone
// imply when that differs), else from the secure-boot state; without one,
// an unsigned UKI means secure boot is off (firmware would refuse it
// otherwise) and a signed one that it is on, which the rule says was
// assumed.
func (in *Inputs) stubKernel(kernel []byte, policy SecureBootPolicy) StubDecision {
	inferred := in.inferStub(kernel, policy)
	if in.StubLoadsKernel == nil {
		return inferred
	}
	d := StubDecision{*in.StubLoadsKernel, fmt.Sprintf("given (%s)", in.opt(YoctoStubLoadsKernel))}
	if inferred.Measured != d.Measured {
		d.Rule += "; the artifacts alone say otherwise: " + inferred.Rule
	}
	return d
}

// inferStub is stubKernel's decision from the artifacts alone.
func (in *Inputs) inferStub(kernel []byte, policy SecureBootPolicy) StubDecision {
	switch {
	case policy.Known:
		return StubMeasuresKernel(kernel, policy.On)
	case !signed(in.UKI):
		d := StubMeasuresKernel(kernel, false)
		d.Rule = "no secure-boot state given, and the UKI is unsigned, so secure boot is off: " + d.Rule
		return d
	}
	d := StubMeasuresKernel(kernel, true)
	d.Rule = "no secure-boot state given and the UKI is signed, so secure boot is assumed on: " + d.Rule
	return d
}

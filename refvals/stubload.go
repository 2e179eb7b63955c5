package refvals

import (
	"bytes"
	"crypto/x509"
	"fmt"
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

// StubDecision is whether systemd-stub's LoadImage of a UKI's kernel
// succeeds, so that firmware measures the kernel into PCR 4, and the
// rule that decided it.
type StubDecision struct {
	Loads bool
	Rule  string
}

// StubLoadsKernel decides whether firmware's LoadImage accepts the kernel
// PE systemd-stub hands it (the UKI's .linux section): never when it is no
// PE image; always with secure boot off; with it on only when the
// kernel's Authenticode digest is not in dbx and either that digest is in
// db or one of its signatures signs the image's digest (the PKCS#7
// signer's signature checked) with a signer chain that reaches a db
// certificate (one of the chain or its issuer) and has no certificate in
// dbx.
func StubLoadsKernel(kernel []byte, policy SecureBootPolicy) (StubDecision, error) {
	r := bytes.NewReader(kernel)
	img, err := authenticode.Parse(r, int64(len(kernel)))
	if err != nil {
		return StubDecision{false, fmt.Sprintf("the kernel is not a PE image (%v), so LoadImage refuses it", err)}, nil
	}
	if !policy.On {
		return StubDecision{true, "secure boot off: LoadImage loads the kernel unverified"}, nil
	}
	sha256, err := img.Digest(r, pcr.SHA256)
	if err != nil {
		return StubDecision{}, fmt.Errorf("kernel: %w", err)
	}
	db, err := eventlog.ParseSignatureLists(policy.DB)
	if err != nil {
		return StubDecision{}, fmt.Errorf("db: %w", err)
	}
	dbx, err := eventlog.ParseSignatureLists(policy.DBX)
	if err != nil {
		return StubDecision{}, fmt.Errorf("dbx: %w", err)
	}
	if hasHash(dbx, sha256) {
		return StubDecision{false, fmt.Sprintf("secure boot on: the kernel's Authenticode digest %x is in dbx, so LoadImage refuses it", sha256)}, nil
	}
	sigs, err := img.Signatures(r)
	if err != nil {
		return StubDecision{}, fmt.Errorf("kernel: %w", err)
	}
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
			return StubDecision{false, fmt.Sprintf("secure boot on: the kernel's signing certificate %q is in dbx, so LoadImage refuses it", c.Subject.String())}, nil
		}
		if _, c := certIn(db, chain); c != nil {
			return StubDecision{true, fmt.Sprintf("secure boot on: the kernel's signature verifies against the db certificate %q, so LoadImage loads it", c.Subject.String())}, nil
		}
	}
	if hasHash(db, sha256) {
		return StubDecision{true, "secure boot on: the kernel's Authenticode digest is in db, so LoadImage loads it"}, nil
	}
	if len(sigs) == 0 {
		return StubDecision{false, "secure boot on: the kernel is unsigned and its digest is not in db, so LoadImage refuses it"}, nil
	}
	return StubDecision{false, "secure boot on: no signature of the kernel verifies against db, so LoadImage refuses it"}, nil
}

// hasHash reports whether the lists hold an EFI_CERT_SHA256 entry of
// the digest.
func hasHash(lists []eventlog.SignatureList, sha256 []byte) bool {
	for _, l := range lists {
		if l.Type != eventlog.GUIDCertSHA256 {
			continue
		}
		for _, e := range l.Signatures {
			if bytes.Equal(e.Raw, sha256) {
				return true
			}
		}
	}
	return false
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

// stubKernel decides whether the UKI's kernel is loaded by systemd-stub:
// as StubLoadsKernel says when given (the rule adds what the artifacts
// alone imply when that differs), else from the secure-boot state;
// without one, an unsigned UKI means secure boot is off (firmware would
// refuse it otherwise) and a signed one that it is on, which the rule
// says was assumed.
func (in *Inputs) stubKernel(kernel []byte, policy SecureBootPolicy) (StubDecision, error) {
	if in.StubLoadsKernel == nil {
		return in.inferStub(kernel, policy)
	}
	d := StubDecision{*in.StubLoadsKernel, fmt.Sprintf("given (%s)", in.opt(YoctoStubLoadsKernel))}
	if inferred, err := in.inferStub(kernel, policy); err == nil && inferred.Loads != d.Loads {
		d.Rule += "; the artifacts alone say otherwise: " + inferred.Rule
	}
	return d, nil
}

// inferStub is stubKernel's decision from the artifacts alone.
func (in *Inputs) inferStub(kernel []byte, policy SecureBootPolicy) (StubDecision, error) {
	if policy.Known {
		return StubLoadsKernel(kernel, policy)
	}
	if !signed(in.UKI) {
		return StubDecision{true, "no secure-boot state given, and the UKI is unsigned, so secure boot is off and LoadImage loads the kernel unverified"}, nil
	}
	return StubDecision{false, fmt.Sprintf("no secure-boot state given and the UKI is signed: secure boot assumed on and the kernel not verified by db (give the variable store or %s)", in.opt(YoctoStubLoadsKernel))}, nil
}

// Package seal owns secrets bound to a device's predicted boot: import
// blobs (go-tpm-tools' server.CreateImportBlob) that only the TPM holding
// a given endorsement key can import, and that open only while its PCRs
// hold the values a PCR policy (package policy) names: the golden values
// of the next boot. It checks the EK before anything is encrypted to it.
package seal

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"

	pb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/google/go-tpm-tools/server"
	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/policy"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// EKError is an endorsement key that cannot be sealed to, with the reason.
type EKError struct{ Reason string }

func (e *EKError) Error() string { return "EK: " + e.Reason }

// CheckEKTemplate checks that a TPM's EK public area is the TCG default
// EK template's for its key (RSA 2048 or ECC P-256, the endorsement
// hierarchy's policy): go-tpm-tools encrypts to the EK by rebuilding that
// public area from the key, so the device imports under it only if its
// EK is exactly that one (the Names must be equal).
func CheckEKTemplate(ek *tpmstruct.TPMTPublic, key crypto.PublicKey) error {
	want, err := server.CreateEKPublicAreaFromKey(key)
	if err != nil {
		return &EKError{Reason: err.Error()}
	}
	wantName, err := want.Name()
	if err != nil {
		return &EKError{Reason: err.Error()}
	}
	wantBytes, err := wantName.Digest.Encode() // nameAlg ‖ digest, as the TPM's Name
	if err != nil {
		return &EKError{Reason: err.Error()}
	}
	got, err := ek.Name()
	if err != nil {
		return &EKError{Reason: err.Error()}
	}
	if !bytes.Equal(got, wantBytes) {
		return &EKError{Reason: fmt.Sprintf("its public area (Name %x) is not the TCG default EK template's for its key (Name %x): the TPM would not import under it", got, wantBytes)}
	}
	return nil
}

// pcrsOf is the single-bank PCR set go-tpm-tools binds an import blob to.
func pcrsOf(pol *policy.PCRPolicy) (*pb.PCRs, error) {
	switch {
	case pol == nil:
		return nil, nil
	case len(pol.Selection) != 1:
		return nil, errors.New("an import blob binds PCRs of one bank: select one")
	case pol.Hash != pcr.SHA256:
		return nil, fmt.Errorf("an import blob's PCR policy is a SHA-256 session, not %s", pol.Hash)
	case len(pol.Branches) != 1:
		return nil, fmt.Errorf("the selected PCRs have %d candidate sets of values, and an import blob binds one (no TPM2_PolicyOR): seal once per variant", len(pol.Branches))
	}
	bs := pol.Selection[0]
	var h pb.HashAlgo
	switch bs.Alg {
	case pcr.SHA1:
		h = pb.HashAlgo_SHA1
	case pcr.SHA256:
		h = pb.HashAlgo_SHA256
	case pcr.SHA384:
		h = pb.HashAlgo_SHA384
	case pcr.SHA512:
		h = pb.HashAlgo_SHA512
	default:
		return nil, fmt.Errorf("bank %s cannot be bound in an import blob", bs.Alg)
	}
	out := &pb.PCRs{Hash: h, Pcrs: map[uint32][]byte{}}
	for _, i := range bs.PCRs {
		v, ok := pol.Branches[0].Values.Get(bs.Alg, i)
		if !ok {
			return nil, fmt.Errorf("no %s value of PCR %d", bs.Alg, i)
		}
		out.Pcrs[uint32(i)] = v
	}
	return out, nil
}

// Secret seals secret to the TPM of ek: its import blob opens (client
// Key.Import) only while the PCRs hold the policy's values.
func Secret(ek crypto.PublicKey, pol *policy.PCRPolicy, secret []byte) (*pb.ImportBlob, error) {
	if len(secret) == 0 {
		return nil, errors.New("the secret is empty")
	}
	pcrs, err := pcrsOf(pol)
	if err != nil {
		return nil, err
	}
	blob, err := server.CreateImportBlob(ek, secret, pcrs)
	if err != nil {
		return nil, err
	}
	return blob, checkAuthPolicy(blob, pol)
}

// SigningKey is Secret for a signing key (client Key.ImportSigningKey), as
// go_tpm_remote_attestation's PullSecret imports one: the key signs only
// while the PCRs hold the policy's values.
func SigningKey(ek crypto.PublicKey, pol *policy.PCRPolicy, key crypto.PrivateKey) (*pb.ImportBlob, error) {
	// go-tpm-tools builds the imported key's public area for RSA only.
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return nil, fmt.Errorf("a signing key to import must be RSA (an RSASSA-SHA256 TPM key), not %T", key)
	}
	pcrs, err := pcrsOf(pol)
	if err != nil {
		return nil, err
	}
	blob, err := server.CreateSigningKeyImportBlob(ek, key, pcrs)
	if err != nil {
		return nil, err
	}
	return blob, checkAuthPolicy(blob, pol)
}

// checkAuthPolicy holds the blob's object to the policy goldenpcr
// computed, so the digest `policy pcr` prints is the one a TPM enforces.
func checkAuthPolicy(blob *pb.ImportBlob, pol *policy.PCRPolicy) error {
	if pol == nil {
		return nil
	}
	pub, err := tpm2.DecodePublic(blob.GetPublicArea())
	if err != nil {
		return err
	}
	if !bytes.Equal(pub.AuthPolicy, pol.Digest) {
		return fmt.Errorf("the import blob's authPolicy %x is not the PCR policy %x", pub.AuthPolicy, pol.Digest)
	}
	return nil
}

// TPM2Tools is blob as tpm2_import reads a duplicated object: the public
// area (TPM2B_PUBLIC, -u), the duplicate (TPM2B_PRIVATE, -i) and the seed
// encrypted to the parent (TPM2B_ENCRYPTED_SECRET, -s). go-tpm-tools
// duplicates with no inner wrapper, which is what tpm2_import assumes
// without -k.
type TPM2Tools struct{ Public, Duplicate, Seed []byte }

// ForTPM2Tools converts a go-tpm-tools import blob for tpm2_import under
// the EK (tpm2_import -C ek.ctx -P session:… after TPM2_PolicySecret on
// the endorsement hierarchy, the EK's policy).
func ForTPM2Tools(blob *pb.ImportBlob) (*TPM2Tools, error) {
	parts := [][]byte{blob.GetPublicArea(), blob.GetDuplicate(), blob.GetEncryptedSeed()}
	for i, name := range []string{"public area", "duplicate", "encrypted seed"} {
		if len(parts[i]) == 0 || len(parts[i]) > 0xffff {
			return nil, fmt.Errorf("the import blob's %s has %d bytes", name, len(parts[i]))
		}
	}
	return &TPM2Tools{Public: tpm2b(parts[0]), Duplicate: tpm2b(parts[1]), Seed: tpm2b(parts[2])}, nil
}

func tpm2b(b []byte) []byte {
	return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
}

package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type peHashOptions struct {
	Files            []string
	Alg              string
	NoSignatureCheck bool
	Output           string
}

func newPECmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pe",
		Short: "Inspect PE/COFF (EFI) images as UEFI firmware measures them",
	}
	c.AddCommand(newPEHashCmd())
	return c
}

func newPEHashCmd() *cobra.Command {
	opts := &peHashOptions{}
	c := &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the Authenticode digest of EFI binaries (what PCR 4 and db/dbx use)",
		Long: `Print the Authenticode digest of PE/COFF images: the hash of the image less
its CheckSum, its Certificate Table entry and its attribute certificates. UEFI
firmware extends this digest into PCR 4 for every EFI application it loads,
and db/dbx hash entries hold it. It is what 'osslsigncode verify' prints as the
calculated message digest.

For a signed image, every signature is listed with the digest its signer
signed and the signer's certificate chain, marked ✓ when that digest equals
the calculated one, ✗ when it differs (the image changed after signing), and
- when it cannot be compared (a digest algorithm goldenpcr does not compute).
The command exits 1 on a ✗ and on a signature it cannot compare, in every
output format, unless --no-signature-check leaves signatures uncompared.

Note: signing pads an image before adding its signature, and that padding is
hashed, so an unsigned binary and its signed copy can have different digests.`,
		Example: `  goldenpcr pe hash /boot/efi/EFI/BOOT/BOOTX64.EFI
  goldenpcr pe hash --alg sha1 shimx64.efi grubx64.efi -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			return runPEHash(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.Alg, "alg", "sha256", "digest algorithm: sha1, sha256, sha384 or sha512")
	c.Flags().BoolVar(&opts.NoSignatureCheck, "no-signature-check", false, "do not compare signed digests with the image (exit 0 whatever the signatures hold)")
	outputFlag(c, &opts.Output)
	return c
}

type peCertificate struct {
	Subject  string `json:"subject" yaml:"subject"`
	Issuer   string `json:"issuer" yaml:"issuer"`
	Serial   string `json:"serial" yaml:"serial"`
	NotAfter string `json:"not_after" yaml:"not_after"`
}

// Statuses of a signature's digest check.
const (
	peSigMatch         = "match"
	peSigMismatch      = "mismatch"
	peSigNotComparable = "not-comparable" // fails: nothing proves the signature covers the image
	peSigNotChecked    = "not-checked"    // --no-signature-check
)

type peSignature struct {
	Offset          int64  `json:"offset" yaml:"offset"`
	DigestAlgorithm string `json:"digest_algorithm" yaml:"digest_algorithm"`
	SignedDigest    string `json:"signed_digest" yaml:"signed_digest"`
	// Matches is set when the digests were compared.
	Matches      *bool           `json:"matches_calculated,omitempty" yaml:"matches_calculated,omitempty"`
	Status       string          `json:"status" yaml:"status"`
	Certificates []peCertificate `json:"certificates" yaml:"certificates"`
}

type peHashResult struct {
	File       string        `json:"file" yaml:"file"`
	Algorithm  string        `json:"algorithm" yaml:"algorithm"`
	Digest     string        `json:"digest" yaml:"digest"`
	Signatures []peSignature `json:"signatures" yaml:"signatures"`
}

func runPEHash(opts *peHashOptions, out io.Writer) error {
	alg, err := pcr.ParseAlg(opts.Alg)
	if err != nil || alg == pcr.SM3256 {
		return fmt.Errorf("--alg %q: want sha1, sha256, sha384 or sha512", opts.Alg)
	}
	var results []peHashResult
	tampered, unchecked := 0, 0
	for _, path := range opts.Files {
		r, err := hashPE(path, alg, !opts.NoSignatureCheck)
		if err != nil {
			return err
		}
		for _, s := range r.Signatures {
			switch s.Status {
			case peSigMismatch:
				tampered++
			case peSigNotComparable:
				unchecked++
			}
		}
		results = append(results, *r)
	}
	if err := render(out, opts.Output, results, func(w io.Writer) error { return peHashText(w, results) }); err != nil {
		return err
	}
	var problems []string
	if tampered > 0 {
		problems = append(problems, fmt.Sprintf("%d signature(s) do not cover the image as it is now", tampered))
	}
	if unchecked > 0 {
		problems = append(problems, fmt.Sprintf("%d signature(s) use a digest algorithm goldenpcr does not compute, so nothing shows they cover the image (--no-signature-check skips the comparison)", unchecked))
	}
	if len(problems) > 0 {
		return mismatch("%s", strings.Join(problems, "; "))
	}
	return nil
}

func hashPE(path string, alg pcr.Alg, checkSigs bool) (*peHashResult, error) {
	img, err := authenticode.Open(path)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	d, err := img.Digest(alg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sigs, err := img.Signatures()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &peHashResult{File: path, Algorithm: alg.String(), Digest: hex.EncodeToString(d), Signatures: []peSignature{}}
	for _, s := range sigs {
		ps := peSignature{Offset: s.Offset, DigestAlgorithm: s.DigestAlgorithm, SignedDigest: hex.EncodeToString(s.SignedDigest),
			Status: peSigNotChecked}
		// A signature over another algorithm needs the image hashed with it.
		sa, perr := pcr.ParseAlg(s.DigestAlgorithm)
		switch {
		case !checkSigs:
		case perr != nil || sa == pcr.SM3256:
			ps.Status = peSigNotComparable
		default:
			calc := d
			if sa != alg {
				if calc, err = img.Digest(sa); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
			m := bytes.Equal(calc, s.SignedDigest)
			ps.Matches, ps.Status = &m, peSigMismatch
			if m {
				ps.Status = peSigMatch
			}
		}
		for _, c := range s.Certificates {
			ps.Certificates = append(ps.Certificates, peCertificate{Subject: c.Subject.String(), Issuer: c.Issuer.String(),
				Serial: c.SerialNumber.Text(16), NotAfter: c.NotAfter.UTC().Format("2006-01-02")})
		}
		r.Signatures = append(r.Signatures, ps)
	}
	return r, nil
}

func peHashText(w io.Writer, results []peHashResult) error {
	for _, r := range results {
		fmt.Fprintf(w, "%s  %s  %s\n", r.Algorithm, r.Digest, r.File)
		for i, s := range r.Signatures {
			status := "- signed digest not compared (--no-signature-check)"
			switch s.Status {
			case peSigMatch:
				status = "✓ signed digest matches"
			case peSigMismatch:
				status = "✗ signed digest differs: " + s.SignedDigest
			case peSigNotComparable:
				status = "- signed digest not comparable: goldenpcr does not compute " + s.DigestAlgorithm + " digests, so this fails"
			}
			fmt.Fprintf(w, "  signature %d (%s): %s\n", i+1, s.DigestAlgorithm, status)
			for j, c := range s.Certificates {
				role := "chain"
				if j == 0 {
					role = "signer"
				}
				fmt.Fprintf(w, "    %-6s %s (issuer %s, until %s)\n", role, c.Subject, c.Issuer, c.NotAfter)
			}
		}
	}
	return nil
}

package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type peHashOptions struct {
	Files  []string
	Alg    string
	Output string
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
signed and the signer's certificate chain. The command exits 1 if a signed
digest differs from the calculated one (the image changed after signing).

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
	outputFlag(c, &opts.Output)
	return c
}

type peCertificate struct {
	Subject  string `json:"subject" yaml:"subject"`
	Issuer   string `json:"issuer" yaml:"issuer"`
	Serial   string `json:"serial" yaml:"serial"`
	NotAfter string `json:"not_after" yaml:"not_after"`
}

type peSignature struct {
	Offset          int64           `json:"offset" yaml:"offset"`
	DigestAlgorithm string          `json:"digest_algorithm" yaml:"digest_algorithm"`
	SignedDigest    string          `json:"signed_digest" yaml:"signed_digest"`
	Matches         *bool           `json:"matches_calculated,omitempty" yaml:"matches_calculated,omitempty"`
	Certificates    []peCertificate `json:"certificates" yaml:"certificates"`
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
	tampered := 0
	for _, path := range opts.Files {
		r, err := hashPE(path, alg)
		if err != nil {
			return err
		}
		for _, s := range r.Signatures {
			if s.Matches != nil && !*s.Matches {
				tampered++
			}
		}
		results = append(results, *r)
	}
	if err := render(out, opts.Output, results, func(w io.Writer) error { return peHashText(w, results) }); err != nil {
		return err
	}
	if tampered > 0 {
		return mismatch("%d signature(s) do not cover the image as it is now", tampered)
	}
	return nil
}

func hashPE(path string, alg pcr.Alg) (*peHashResult, error) {
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
		ps := peSignature{Offset: s.Offset, DigestAlgorithm: s.DigestAlgorithm, SignedDigest: hex.EncodeToString(s.SignedDigest)}
		// A signature over another algorithm needs the image hashed with it.
		if sa, err := pcr.ParseAlg(s.DigestAlgorithm); err == nil {
			calc := d
			if sa != alg {
				if calc, err = img.Digest(sa); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
			m := bytes.Equal(calc, s.SignedDigest)
			ps.Matches = &m
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
			status := "signed digest not comparable"
			if s.Matches != nil {
				status = map[bool]string{true: "✓ signed digest matches", false: "✗ signed digest differs: " + s.SignedDigest}[*s.Matches]
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

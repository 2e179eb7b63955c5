package main

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

func newCorimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "corim",
		Short: "Write, read and submit CoRIMs: a baseline as the reference values a Veraison verifier is provisioned with",
	}
	c.AddCommand(newCorimCreateCmd(), newCorimShowCmd(), newCorimSubmitCmd())
	return c
}

type corimCreateOptions struct {
	Scheme     string
	Baseline   string
	ClassID    string
	KeyID      string
	NodeID     string
	PCRs       string
	AK         string
	SignKey    string
	SignCert   string
	Chain      []string
	Veraison   string
	ProfileURI string
	ID         string
	OutFile    string
	Output     string
	// Arm are the options of the PSA and CCA schemes (corim_arm.go).
	Arm armCorimOptions
}

func newCorimCreateCmd() *cobra.Command {
	opts := &corimCreateOptions{}
	c := &cobra.Command{
		Use:   "create --scheme parsec-tpm|enacttrust|psa|cca-platform|cca-realm … -O FILE",
		Short: "Write a PARSEC_TPM, TPM_ENACTTRUST, PSA_IOT or ARM_CCA CoRIM",
		Long: `Write the CoRIM a Veraison verifier is provisioned with, from a goldenpcr
baseline or any PCR file goldenpcr reads (CHARRA alternatives become variants).

  --scheme parsec-tpm   PARSEC_TPM: the AK is the trust anchor of (--class-id,
                        key id); every PCR of the baseline becomes a reference
                        value with mkey = the PCR index and a digest per bank
                        (sha256, sha384, sha512: SHA-1 and SM3 have no CoRIM
                        algorithm id and are left out, with a note); a PCR with
                        variants gets one reference value per acceptable value.
  --scheme enacttrust   TPM_ENACTTRUST: the node (--node-id) has one ECDSA AK
                        and one reference value, the composite PCR digest a
                        quote over --pcrs carries: SHA-256 of the selected
                        values concatenated in selection order. Selected PCRs
                        must be in the baseline and have no variants.
  --scheme psa          PSA_IOT: the IAK (--iak) is the trust anchor of
                        (--impl-id, --inst-id); each --component becomes a
                        psa.software-component reference value of the
                        implementation (measurement type, digest, signer id,
                        version).
  --scheme cca-platform ARM_CCA platform: the CPAK (--cpak) as trust anchor, the
                        --component values and the --platform-config.
  --scheme cca-realm    ARM_CCA realm: the realm named by its --rim, the REMs it
                        must end with (--rem0 … --rem3) and its --rpv.

The profile is the scheme's current one (Veraison v0.0.2605 and later);
--veraison legacy writes the older profile for v0.0.2512–v0.0.2602,
--veraison legacy-2502 the older profile in the older CoRIM encoding for
v0.0.2502–v0.0.2511 (unsigned only), and --profile-uri any other. With --sign-key and --sign-cert (and --chain for the certificates
above it, in order) the CoRIM is a COSE_Sign1 whose x5chain carries them.

Before anything is written the CoRIM is decoded again and checked against the
scheme's profile rules (docs/corim.md); -O writes it atomically and never over
an input. A summary, with the media type to provision it with, goes to stdout.`,
		Example: `  goldenpcr corim create --scheme parsec-tpm --baseline golden.yaml \
      --class-id cd1f0e55-26f9-460d-b9d8-f7fde171787c --ak ak.pem -O tpm.corim
  goldenpcr corim create --scheme enacttrust --baseline golden.yaml --pcrs sha256:0-7 \
      --node-id 7d2a9a4c-2f0b-4a3e-9c61-0c1e6f1d3b5a --ak ak.pem \
      --sign-key signer.key --sign-cert signer.pem --chain ca.pem -O node.corim
  goldenpcr corim create --scheme psa --impl-id YWNtZS1pbXBsZW1lbnRhdGlvbi1pZC0wMDAwMDAwMDE= \
      --inst-id Ac7rrnuJJ6MiflMDz14PH3s0u1Qq1yUKwD+83jbsLxUI --iak iak.pem \
      --component type=PRoT,value=sha-256:tNHB5PpzYZcMCNsS0lNMaa/BxXFwWGreLZwfGU/WzUw=,signer-id=rLsRx+TaIXIFUjzkzhokWuGiOa48a/2eeHH35di66Gs= \
      -O psa.corim
  goldenpcr corim create --scheme cca-realm --rim HEX --rem0 HEX --rpv HEX -O realm.corim`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCorimCreate(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Scheme, "scheme", "", "parsec-tpm or enacttrust (required)")
	f.StringVar(&opts.Baseline, "baseline", "", "goldenpcr baseline or PCR file holding the golden values (required)")
	f.StringVar(&opts.AK, "ak", "", "attestation key: PEM, DER, X.509 certificate or TPM2B_PUBLIC (required; ECDSA for enacttrust)")
	f.StringVar(&opts.ClassID, "class-id", "", "parsec-tpm: platform class UUID (required)")
	f.StringVar(&opts.KeyID, "key-id", "", "parsec-tpm: the AK's key id, 33 bytes hex starting 01 (default 01 ‖ SHA-256 of the AK's SubjectPublicKeyInfo)")
	f.StringVar(&opts.NodeID, "node-id", "", "enacttrust: the node's instance UUID (required)")
	f.StringVar(&opts.PCRs, "pcrs", "", "enacttrust: the selection the node's quotes are made over, e.g. sha256:0-7 (required)")
	f.StringVar(&opts.SignKey, "sign-key", "", "sign the CoRIM (COSE_Sign1) with this PEM private key (ECDSA P-256/384/521, RSA, Ed25519)")
	f.StringVar(&opts.SignCert, "sign-cert", "", "with --sign-key: its certificate (PEM or DER), the x5chain leaf")
	f.StringArrayVar(&opts.Chain, "chain", nil, "with --sign-key: certificates above --sign-cert, issuer first (repeatable; a file may hold several, in order)")
	f.StringVar(&opts.Veraison, "veraison", "current", "profile generation: current (v0.0.2605 and later), legacy (v0.0.2512–v0.0.2602) or legacy-2502 (v0.0.2502–v0.0.2511)")
	f.StringVar(&opts.ProfileURI, "profile-uri", "", "write this profile URI (or OID) instead of the scheme's; the scheme's rules still apply")
	f.StringVar(&opts.ID, "corim-id", "", "corim-id, a UUID or a string (default: a UUID derived from the content)")
	addArmCorimFlags(f, &opts.Arm)
	f.StringVarP(&opts.OutFile, "output-file", "O", "", "write the CoRIM (CBOR) to this file atomically; - writes it to stdout instead of the summary (required)")
	outputFlag(c, &opts.Output)
	return c
}

func runCorimCreate(opts *corimCreateOptions, out io.Writer) error {
	if s, ok := armSchemes[opts.Scheme]; ok {
		return runCorimCreateArm(opts, s, out)
	}
	if given := opts.Arm.given(); len(given) > 0 {
		return fmt.Errorf("%s: options of --scheme psa, cca-platform or cca-realm", strings.Join(given, ", "))
	}
	switch {
	case opts.Scheme == "":
		return fmt.Errorf("--scheme: required (parsec-tpm, enacttrust, psa, cca-platform or cca-realm)")
	case opts.Baseline == "":
		return fmt.Errorf("--baseline: required")
	case opts.AK == "":
		return fmt.Errorf("--ak: required")
	case opts.OutFile == "":
		return fmt.Errorf("-O: required: a CoRIM is binary CBOR (-O - writes it to stdout)")
	}
	copts, err := corimOptions(opts)
	if err != nil {
		return err
	}
	ref, err := readReference(opts.Baseline, "", "", "", "")
	if err != nil {
		return fmt.Errorf("--baseline: %w", err)
	}
	akData, err := readSmall(opts.AK, maxKeyFile)
	if err != nil {
		return fmt.Errorf("--ak: %w", err)
	}
	ak, err := tpmstruct.ParsePublic(akData)
	if err != nil {
		return fmt.Errorf("--ak %s: %w", opts.AK, err)
	}
	var res *corim.Result
	switch opts.Scheme {
	case "parsec-tpm":
		if opts.NodeID != "" || opts.PCRs != "" {
			return fmt.Errorf("--node-id and --pcrs go with --scheme enacttrust")
		}
		in := corim.ParsecTPMInput{Reference: &ref.Reference, AK: ak.Key}
		if in.ClassID, err = parseUUIDFlag("class-id", opts.ClassID); err != nil {
			return err
		}
		if opts.KeyID != "" {
			if in.KeyID, err = hex.DecodeString(strings.TrimPrefix(opts.KeyID, "0x")); err != nil {
				return fmt.Errorf("--key-id: not hex: %w", err)
			}
		}
		res, err = corim.NewParsecTPM(in, copts)
	case "enacttrust":
		if opts.ClassID != "" || opts.KeyID != "" {
			return fmt.Errorf("--class-id and --key-id go with --scheme parsec-tpm")
		}
		in := corim.EnactTrustInput{Reference: &ref.Reference, AK: ak.Key}
		if in.NodeID, err = parseUUIDFlag("node-id", opts.NodeID); err != nil {
			return err
		}
		if opts.PCRs == "" {
			return fmt.Errorf("--pcrs: required with --scheme enacttrust (e.g. sha256:0-7)")
		}
		if in.Selection, err = pcr.ParseSelection(opts.PCRs); err != nil {
			return fmt.Errorf("--pcrs: %w", err)
		}
		res, err = corim.NewEnactTrust(in, copts)
	default:
		return fmt.Errorf("--scheme %q: want parsec-tpm, enacttrust, psa, cca-platform or cca-realm", opts.Scheme)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Scheme, err)
	}
	return writeCorim(opts, res, []string{opts.Baseline, opts.AK}, out)
}

// corimOptions are the options every scheme takes: the Veraison
// generation, profile, corim-id and signer.
func corimOptions(opts *corimCreateOptions) (corim.Options, error) {
	var copts corim.Options
	switch {
	case (opts.SignKey == "") != (opts.SignCert == ""):
		return copts, fmt.Errorf("--sign-key and --sign-cert go together")
	case len(opts.Chain) > 0 && opts.SignKey == "":
		return copts, fmt.Errorf("--chain goes with --sign-key and --sign-cert")
	}
	switch opts.Veraison {
	case "current":
	case "legacy":
		copts.Generation = corim.Legacy
	case "legacy-2502":
		copts.Generation = corim.Legacy2502
	default:
		return copts, fmt.Errorf("--veraison %q: want current, legacy or legacy-2502", opts.Veraison)
	}
	copts.Profile, copts.ID = opts.ProfileURI, opts.ID
	if opts.SignKey != "" {
		var err error
		if copts.Sign, err = readCorimSigner(opts); err != nil {
			return copts, err
		}
	}
	return copts, nil
}

// writeCorim writes a CoRIM built from inputs with -O and prints its
// summary.
func writeCorim(opts *corimCreateOptions, res *corim.Result, inputs []string, out io.Writer) error {
	if opts.OutFile == "-" {
		_, err := out.Write(res.CBOR)
		return err
	}
	inputs = append(append(inputs, opts.SignKey, opts.SignCert), opts.Chain...)
	if err := atomicfile.Write(opts.OutFile, res.CBOR, 0o644, inputs...); err != nil {
		return fmt.Errorf("-O: %w", err)
	}
	rep := corimCreateReport{File: opts.OutFile, Bytes: len(res.CBOR), Notes: res.Notes, Decoded: res.Decoded}
	if rep.Notes == nil {
		rep.Notes = []string{}
	}
	return render(out, opts.Output, rep, func(w io.Writer) error { return corimCreateText(w, rep) })
}

type corimCreateReport struct {
	File    string         `json:"file" yaml:"file"`
	Bytes   int            `json:"bytes" yaml:"bytes"`
	Notes   []string       `json:"notes" yaml:"notes"`
	Decoded *corim.Decoded `json:"corim" yaml:"corim"`
}

func corimCreateText(w io.Writer, r corimCreateReport) error {
	d := r.Decoded
	kind := "unsigned"
	if d.Signed {
		kind = "signed (COSE_Sign1, " + d.Signature.Algorithm + ")"
	}
	refvals, keys := 0, 0
	for _, c := range d.Comids {
		refvals += len(c.ReferenceValues)
		keys += len(c.TrustAnchors)
	}
	fmt.Fprintf(w, "wrote %s: %s %s CoRIM, %d bytes, %d reference value(s), %d trust anchor(s)\n", r.File, kind, d.Scheme, r.Bytes, refvals, keys)
	fmt.Fprintf(w, "  profile     %s (Veraison %s)\n", d.Profile, d.Veraison)
	fmt.Fprintf(w, "  media type  %s\n", d.MediaType)
	fmt.Fprintf(w, "  validated   %s\n", d.Validated)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note        %s\n", n)
	}
	return nil
}

func parseUUIDFlag(name, v string) (uuid.UUID, error) {
	if v == "" {
		return uuid.Nil, fmt.Errorf("--%s: required", name)
	}
	u, err := uuid.Parse(v)
	if err != nil {
		return uuid.Nil, fmt.Errorf("--%s %q: not a UUID: %w", name, v, err)
	}
	return u, nil
}

func readCorimSigner(opts *corimCreateOptions) (*corim.Signer, error) {
	keyData, err := readSmall(opts.SignKey, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	key, err := corim.ParsePrivateKey(keyData)
	if err != nil {
		return nil, fmt.Errorf("--sign-key %s: %w", opts.SignKey, err)
	}
	certData, err := readSmall(opts.SignCert, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--sign-cert: %w", err)
	}
	certs, err := tpmcert.ParseCertificates(certData)
	if err != nil {
		return nil, fmt.Errorf("--sign-cert %s: %w", opts.SignCert, err)
	}
	s := &corim.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	for _, p := range opts.Chain {
		var more []*x509.Certificate
		if more, err = readCertsPath(nil, p); err != nil {
			return nil, fmt.Errorf("--chain: %w", err)
		}
		s.Chain = append(s.Chain, more...)
	}
	return s, nil
}

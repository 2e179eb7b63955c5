package main

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	pb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/policy"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/seal"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

type sealOptions struct {
	EK              string
	EKRoots         []string
	EKIntermediates []string
	Baseline        string
	PCRs            string
	In              string
	SigningKey      string
	OutFile         string
	Format          string
	Output          string
}

func newSealCmd() *cobra.Command {
	opts := &sealOptions{}
	c := &cobra.Command{
		Use:   "seal --ek EK --baseline B --pcrs SEL (--in SECRET | --signing-key KEY) -O BLOB",
		Short: "Seal a secret or signing key to one TPM and to the PCR values a baseline predicts",
		Long: `Encrypt a secret (or a signing key) to a TPM's endorsement key as a
go-tpm-tools import blob (server.CreateImportBlob, the form
go_tpm_remote_attestation's PushSecret/PullSecret send): only the TPM with
that EK can import it (client Key.Import / Key.ImportSigningKey), and only
while the selected PCRs hold the baseline's values, so it opens on the
predicted boot and on no other.

--ek is the TPM's EK: an EK certificate (PEM or DER), which must chain to
--ek-roots with the checks 'verify quote --ek-cert' makes (EKU, TCG
subjectAltName, critical extensions); or its public key as tpm2_createek -u
writes it (TPM2B_PUBLIC), whose public area must be the TCG default EK
template's (go-tpm-tools rebuilds it from the key); or a PEM public key,
taken as the operator's own pin. --pcrs selects one bank (an import blob
binds one); every selected PCR must be in the baseline, with one value: a
PCR with variants is refused (an import blob has no PolicyOR: seal once per
variant). The policy digest is the one 'policy pcr' prints.

The blob is written to -O as the ImportBlob protobuf; with --format
tpm2-tools as three files for tpm2_import under the EK instead: -O.pub
(TPM2B_PUBLIC), -O.dpriv (TPM2B_PRIVATE) and -O.seed
(TPM2B_ENCRYPTED_SECRET); docs/seal.md shows the device's commands. The
report goes to stdout.`,
		Example: `  tpm2_createek -c ek.ctx -G rsa -u ek.pub        # on the device
  goldenpcr seal --ek ek.pub --baseline golden.yaml --pcrs sha256:0,7 --in disk.key -O disk.blob
  goldenpcr seal --ek ek.crt --ek-roots tpm-vendor-roots/ --baseline golden.yaml --pcrs sha256:0,4,7 \
      --signing-key device-key.pem -O key.blob
  goldenpcr seal --ek ek.pub --baseline golden.yaml --pcrs sha256:7,11 --in disk.key \
      --format tpm2-tools -O disk              # disk.pub, disk.dpriv, disk.seed`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runSeal(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.EK, "ek", "", "the TPM's EK: EK certificate (with --ek-roots), TPM2B_PUBLIC (tpm2_createek -u) or PEM public key (required)")
	f.StringArrayVar(&opts.EKRoots, "ek-roots", nil, "TPM manufacturer root CAs an EK certificate must chain to: a PEM/DER file or a folder (repeatable)")
	f.StringArrayVar(&opts.EKIntermediates, "ek-intermediates", nil, "intermediate CAs for an EK certificate (repeatable)")
	f.StringVar(&opts.Baseline, "baseline", "", "golden values: a goldenpcr baseline or any PCR file (required)")
	f.StringVar(&opts.PCRs, "pcrs", "", "PCRs the blob opens on, one bank, e.g. sha256:0,7 (required)")
	f.StringVar(&opts.In, "in", "", "the secret to seal (a file of at most 128 bytes, the TPM's sealed-data limit)")
	f.StringVar(&opts.SigningKey, "signing-key", "", "instead of --in: a PEM RSA private key the TPM imports as a signing key usable only on that boot")
	f.StringVarP(&opts.OutFile, "output-file", "O", "", "write the import blob here, atomically (required; never over an input)")
	f.StringVar(&opts.Format, "format", "go-tpm-tools", "blob format: go-tpm-tools (the ImportBlob protobuf, -O) or tpm2-tools (-O.pub, -O.dpriv, -O.seed for tpm2_import -u, -i, -s)")
	outputFlag(c, &opts.Output)
	return c
}

// sealReport is what seal prints.
type sealReport struct {
	EK        string            `json:"ek" yaml:"ek"`
	EKChecks  []string          `json:"ek_checks" yaml:"ek_checks"`
	Selection string            `json:"selection" yaml:"selection"`
	Values    map[string]string `json:"values" yaml:"values"`
	Policy    string            `json:"policy_digest" yaml:"policy_digest"`
	Sealed    string            `json:"sealed" yaml:"sealed"`
	Blob      []sealedFile      `json:"files" yaml:"files"`
}

type sealedFile struct {
	Path  string `json:"path" yaml:"path"`
	Bytes int    `json:"bytes" yaml:"bytes"`
}

// writeSealed writes blob as -O (go-tpm-tools) or as -O's .pub, .dpriv and
// .seed for tpm2_import -u, -i and -s (tpm2-tools).
func writeSealed(out io.Writer, blob *pb.ImportBlob, format, outFile string, inputs []string) ([]sealedFile, error) {
	files := map[string][]byte{}
	if format == "tpm2-tools" {
		t, err := seal.ForTPM2Tools(blob)
		if err != nil {
			return nil, err
		}
		files[outFile+".pub"], files[outFile+".dpriv"], files[outFile+".seed"] = t.Public, t.Duplicate, t.Seed
	} else {
		data, err := proto.Marshal(blob)
		if err != nil {
			return nil, err
		}
		files[outFile] = data
	}
	var wrote []sealedFile
	for _, name := range []string{outFile, outFile + ".pub", outFile + ".dpriv", outFile + ".seed"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := writeOutput(out, data, name, inputs...); err != nil {
			return nil, err
		}
		wrote = append(wrote, sealedFile{Path: name, Bytes: len(data)})
	}
	return wrote, nil
}

func runSeal(opts *sealOptions, out io.Writer) error {
	switch {
	case opts.EK == "" || opts.Baseline == "" || opts.PCRs == "" || opts.OutFile == "":
		return errors.New("--ek, --baseline, --pcrs and -O are required")
	case (opts.In == "") == (opts.SigningKey == ""):
		return errors.New("give the secret to seal: --in or --signing-key, one of them")
	case opts.Format != "go-tpm-tools" && opts.Format != "tpm2-tools":
		return fmt.Errorf("--format %q: go-tpm-tools or tpm2-tools", opts.Format)
	}
	ek, rep, err := readSealEK(opts)
	if err != nil {
		return err
	}
	b, sel, err := sealingBaseline(opts.Baseline, opts.PCRs)
	if err != nil {
		return err
	}
	pol, err := policy.FromBaseline(b, sel, pcr.SHA256)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Baseline, err)
	}
	var blob *pb.ImportBlob
	if opts.In != "" {
		secret, err := readSmall(opts.In, 128)
		if err != nil {
			return fmt.Errorf("--in: %w", err)
		}
		if blob, err = seal.Secret(ek, pol, secret); err != nil {
			return err
		}
		rep.Sealed = fmt.Sprintf("secret %s (%d bytes)", opts.In, len(secret))
	} else {
		data, err := readSmall(opts.SigningKey, maxKeyFile)
		if err != nil {
			return fmt.Errorf("--signing-key: %w", err)
		}
		key, err := corim.ParsePrivateKey(data)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.SigningKey, err)
		}
		if blob, err = seal.SigningKey(ek, pol, key); err != nil {
			return err
		}
		rep.Sealed = "signing key " + opts.SigningKey
	}
	inputs := []string{opts.EK, opts.Baseline, opts.In, opts.SigningKey}
	files, err := writeSealed(out, blob, opts.Format, opts.OutFile, inputs)
	if err != nil {
		return err
	}
	rep.Selection, rep.Policy, rep.Blob = sel.String(), hex.EncodeToString(pol.Digest), files
	rep.Values = map[string]string{}
	for _, i := range sel[0].PCRs {
		v, _ := pol.Branches[0].Values.Get(sel[0].Alg, i)
		rep.Values[fmt.Sprintf("%s:%d", sel[0].Alg, i)] = hex.EncodeToString(v)
	}
	return render(out, opts.Output, rep, func(w io.Writer) error {
		fmt.Fprintf(w, "EK: %s\n", rep.EK)
		for _, c := range rep.EKChecks {
			fmt.Fprintf(w, "  ✓ %s\n", c)
		}
		fmt.Fprintf(w, "sealed %s to %s:\n", rep.Sealed, rep.Selection)
		for _, i := range sel[0].PCRs {
			k := fmt.Sprintf("%s:%d", sel[0].Alg, i)
			fmt.Fprintf(w, "  %s %s\n", k, rep.Values[k])
		}
		fmt.Fprintf(w, "policy digest %s\n", rep.Policy)
		for _, f := range rep.Blob {
			fmt.Fprintf(w, "wrote %s (%d bytes)\n", f.Path, f.Bytes)
		}
		return nil
	})
}

// readSealEK reads --ek and checks it: a certificate against --ek-roots,
// a TPM2B_PUBLIC against the default EK template.
func readSealEK(opts *sealOptions) (crypto.PublicKey, *sealReport, error) {
	data, err := readSmall(opts.EK, maxKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ek: %w", err)
	}
	rep := &sealReport{}
	if cert, cerr := tpmcert.ParseTPMCertificate(data); cerr == nil {
		if len(opts.EKRoots) == 0 {
			return nil, nil, fmt.Errorf("--ek %s is a certificate: give --ek-roots to check it against (an EK nobody vouches for is not sealed to)", opts.EK)
		}
		roots, err := readCertsPaths(nil, "--ek-roots", opts.EKRoots)
		if err != nil {
			return nil, nil, err
		}
		inter, err := readCertsPaths(nil, "--ek-intermediates", opts.EKIntermediates)
		if err != nil {
			return nil, nil, err
		}
		_, checks := quote.VerifyEK(cert, &tpmcert.EKPolicy{Roots: roots, Intermediates: inter}, nil)
		for _, c := range checks {
			if c.Failed() {
				return nil, nil, fmt.Errorf("--ek %s: %s", opts.EK, c.Reason)
			}
			if c.Passed {
				rep.EKChecks = append(rep.EKChecks, c.Name+": "+c.Reason)
			}
		}
		rep.EK = "certificate " + opts.EK + " (" + tpmcert.KeyString(cert.Key) + ")"
		return cert.Key, rep, nil
	}
	if len(opts.EKRoots) > 0 || len(opts.EKIntermediates) > 0 {
		return nil, nil, fmt.Errorf("--ek-roots and --ek-intermediates check an EK certificate; %s is not one", opts.EK)
	}
	pub, err := tpmstruct.ParsePublic(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--ek %s: %w", opts.EK, err)
	}
	if pub.Certificate != nil {
		return nil, nil, fmt.Errorf("--ek %s: a certificate that is not an EK certificate", opts.EK)
	}
	rep.EK = pub.Format + " " + opts.EK + " (" + tpmcert.KeyString(pub.Key) + ")"
	if pub.TPM != nil {
		if err := seal.CheckEKTemplate(pub.TPM, pub.Key); err != nil {
			return nil, nil, fmt.Errorf("--ek %s: %w", opts.EK, err)
		}
		rep.EKChecks = append(rep.EKChecks, "ek-template: the TCG default EK template's public area for its key")
	} else {
		rep.EKChecks = append(rep.EKChecks, "ek-pin: a bare public key, the operator's own pin (nothing else vouches for it)")
	}
	return pub.Key, rep, nil
}

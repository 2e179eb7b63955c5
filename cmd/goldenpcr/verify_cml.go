package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/cml"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/rattestation"
	"github.com/goldenpcr/goldenpcr/tpmcert"
)

type verifyCMLOptions struct {
	Device   string
	Baseline string
	Config   string
	// typeGiven: --atype or --pcrs was given, which --config must agree with.
	typeGiven    bool
	config       *rattestation.Config
	CA           []string
	KmodCert     []string
	AType        string
	PCRs         string
	NonceSize    int
	Timeout      time.Duration
	InsecureNoCA bool
	Output       string
}

func newVerifyCMLCmd() *cobra.Command {
	opts := &verifyCMLOptions{}
	c := &cobra.Command{
		Use:   "cml HOST[:9505] (--baseline B | --config rattestation.conf) --ca DEVICE_CA.pem",
		Short: "Ask a GyroidOS CML device (tpm2d) for a quote and verify it, more strictly than rattestation",
		Long: `Connect to a GyroidOS device's tpm2d (TCP port 9505), send an attestation
request with a fresh nonce, and verify the answer check by check:

  response       the answer is one frame (below 64 MiB) holding an
                 ATTESTATION_RES of the requested atype with SHA-256 values
  attest-header, signature, ak-attributes, ak-trust, nonce, pcr-selection,
  pcr-digest, expected-pcrs, clock
                 as 'verify quote' checks them, with the device certificate's
                 key as the AK (unrestricted, as CML's is): the whole extraData
                 equals the nonce, the quote selects exactly the requested
                 PCRs, the reported values hash to pcrDigest, and the quoted
                 PCRs equal the --baseline's (or --config's) SHA-256 values
  ak-cert        the device certificate chains to --ca and certifies the key
                 that signed the quote (--insecure-no-ca: NOT CHECKED)
  ima-*          the IMA list replays to the quoted PCR 10 (violations as the
                 kernel extends them), every template digest matches, the
                 boot_aggregate equals the quoted PCRs 0-9, and every ima-sig
                 and ima-modsig signature verifies with --kmod-cert; unsigned
                 entries are listed
  containers     the container list, folded from zero as cmld extends it,
                 equals the quoted PCR 11
  pcr-coverage   every quoted PCR is checked by the baseline or (10, 11) by
                 the IMA and container lists

Exit codes: 0 = verified, 1 = not verified (a ✗ in the report), 2 = bad usage,
an unreadable --baseline, --ca or --kmod-cert, or a device that cannot be
reached or does not answer within --timeout (tpm2d sends nothing when it
fails).`,
		Example: `  goldenpcr verify cml 192.168.0.7 --baseline golden.yaml --ca gyroidos-device-subca.pem \
      --kmod-cert kmod-signing.crt
  goldenpcr verify cml device.lan:9505 --baseline golden.yaml --ca ca.pem --atype ADVANCED --pcrs 0-7,10,11 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Device = args[0]
			opts.typeGiven = c.Flags().Changed("atype") || c.Flags().Changed("pcrs")
			return runVerifyCML(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Baseline, "baseline", "", "golden values of the quoted PCRs: a goldenpcr baseline or a PCR file (its SHA-256 bank is compared) (required)")
	f.StringVar(&opts.Config, "config", "", "a rattestation.conf instead of --baseline: its PCR values, attestation type and kmod_sign_cert")
	f.StringArrayVar(&opts.CA, "ca", nil, "the device CA(s) the device certificate must chain to: a PEM/DER file or a folder of them (repeatable; required unless --insecure-no-ca)")
	f.StringArrayVar(&opts.KmodCert, "kmod-cert", nil, "the certificate that signs kernel modules and IMA signatures (repeatable); without it signatures are not checked")
	f.StringVar(&opts.AType, "atype", "BASIC", "attestation type: BASIC (PCRs 0-11), ALL (0-23) or ADVANCED (--pcrs)")
	f.StringVar(&opts.PCRs, "pcrs", "", "the PCRs an ADVANCED request asks for, e.g. 0-7,10,11")
	f.IntVar(&opts.NonceSize, "nonce-size", cml.DefaultNonceSize, fmt.Sprintf("bytes of fresh nonce (%d to %d; rattestation sends %d)", cml.MinNonceSize, cml.MaxNonceSize, cml.RattestationNonceSize))
	f.DurationVar(&opts.Timeout, "timeout", cml.DefaultTimeout, "how long to wait to connect, and for each read of the answer")
	f.BoolVar(&opts.InsecureNoCA, "insecure-no-ca", false, "INSECURE: accept a device certificate no CA vouches for (reported as NOT CHECKED)")
	outputFlag(c, &opts.Output)
	return c
}

// cmlOptionNames words the library's options as this command's flags.
func cmlOptionNames(o cml.Option) string {
	switch o {
	case cml.OptRoots:
		return "--ca"
	case cml.OptInsecureNoCA:
		return "--insecure-no-ca"
	case cml.OptKmodKeys:
		return "--kmod-cert"
	case cml.OptExpected:
		return "--baseline"
	}
	return ""
}

// readConfig reads --config: its values become the baseline, its
// attestation type the request's, and its kmod_sign_cert (when it is PEM
// text and --kmod-cert is not given) the key IMA signatures are checked
// with.
func (o *verifyCMLOptions) readConfig() error {
	if o.Config == "" {
		return nil
	}
	if o.Baseline != "" {
		return fmt.Errorf("--config and --baseline both give the golden values: give one")
	}
	data, err := readSmall(o.Config, maxKeyFile)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	cfg, err := rattestation.Parse(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", o.Config, err)
	}
	atype, pcrs := cfg.AType.String(), ""
	if cfg.AType == rattestation.Advanced {
		pcrs = pcr.FormatPCRList(cfg.PCRs)
	}
	if o.typeGiven && (o.AType != atype || (pcrs != "" && o.PCRs != pcrs)) {
		return fmt.Errorf("--config %s says atype %s %s; drop --atype/--pcrs or make them agree", o.Config, atype, pcrs)
	}
	o.AType, o.PCRs, o.config = atype, pcrs, cfg
	return nil
}

// cmlRequest builds the request the options ask for, with a fresh nonce.
func (o *verifyCMLOptions) request() (*cml.Request, error) {
	atype, err := cml.ParseAttestationType(o.AType)
	if err != nil {
		return nil, fmt.Errorf("--atype: %w", err)
	}
	var bitmap uint32
	switch {
	case atype == cml.Advanced && o.PCRs == "":
		return nil, fmt.Errorf("--atype ADVANCED needs --pcrs, the PCRs to quote")
	case atype != cml.Advanced && o.PCRs != "":
		return nil, fmt.Errorf("--pcrs is only for --atype ADVANCED (%s quotes its own PCRs)", atype)
	case o.PCRs != "":
		list, err := pcr.ParsePCRList(o.PCRs)
		if err != nil {
			return nil, fmt.Errorf("--pcrs: %w", err)
		}
		for _, i := range list {
			bitmap |= 1 << i
		}
	}
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: want a positive duration, e.g. 10s", o.Timeout)
	}
	req, err := cml.NewRequest(atype, bitmap, o.NonceSize)
	if err != nil {
		return nil, fmt.Errorf("--nonce-size: %w", err)
	}
	return req, nil
}

// policy reads the verifier's inputs.
func (o *verifyCMLOptions) policy() (*cml.Policy, error) {
	p := &cml.Policy{InsecureNoCA: o.InsecureNoCA, OptionName: cmlOptionNames}
	switch {
	case o.Baseline == "" && o.config == nil:
		return nil, fmt.Errorf("--baseline or --config is required: the golden values the quoted PCRs are compared with")
	case len(o.CA) == 0 && !o.InsecureNoCA:
		return nil, fmt.Errorf("--ca is required: without the device CA nothing shows who issued the device certificate, so anyone could answer for the device (--insecure-no-ca accepts that)")
	case len(o.CA) > 0 && o.InsecureNoCA:
		return nil, fmt.Errorf("--ca and --insecure-no-ca contradict each other")
	}
	var err error
	if o.config != nil {
		p.Expected = &baseline.Reference{Baseline: o.config.Baseline(), Label: "rattestation.conf"}
	} else if p.Expected, err = baseline.Load(o.Baseline, pcr.ReadOptions{}); err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	for _, path := range o.CA {
		certs, err := readCertsPath(nil, path)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		p.Roots = append(p.Roots, certs...)
	}
	if len(o.KmodCert) > 0 {
		p.KmodKeys = &ima.Keyring{}
		for _, path := range o.KmodCert {
			if err := p.KmodKeys.LoadKeyFile(path); err != nil {
				return nil, fmt.Errorf("--kmod-cert: %w", err)
			}
		}
	} else if o.config != nil && strings.Contains(o.config.KmodCert, "-----BEGIN") {
		certs, err := tpmcert.ParseCertificates([]byte(o.config.KmodCert))
		if err != nil {
			return nil, fmt.Errorf("--config %s: kmod_sign_cert: %w", o.Config, err)
		}
		p.KmodKeys = &ima.Keyring{}
		for _, c := range certs {
			if err := p.KmodKeys.AddCertificate(c, o.Config+": kmod_sign_cert"); err != nil {
				return nil, fmt.Errorf("--config %s: kmod_sign_cert: %w", o.Config, err)
			}
		}
	}
	return p, nil
}

type verifyCMLOutput struct {
	Verified bool   `json:"verified" yaml:"verified"`
	Device   string `json:"device" yaml:"device"`
	Baseline string `json:"baseline,omitempty" yaml:"baseline,omitempty"`
	Config   string `json:"config,omitempty" yaml:"config,omitempty"`
	// ElapsedMS is the time from connecting to the answer's last byte.
	ElapsedMS   int64 `json:"elapsed_ms" yaml:"elapsed_ms"`
	*cml.Report `yaml:",inline"`
}

func runVerifyCML(ctx context.Context, opts *verifyCMLOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.readConfig(); err != nil {
		return err
	}
	req, err := opts.request()
	if err != nil {
		return err
	}
	p, err := opts.policy()
	if err != nil {
		return err
	}
	addr, err := cml.Address(opts.Device)
	if err != nil {
		return err
	}
	ex, err := cml.Attest(ctx, addr, req, opts.Timeout)
	if err != nil {
		return err
	}
	rep := cml.VerifyExchange(ex, p)
	o := verifyCMLOutput{Verified: rep.Verified, Device: addr, Baseline: opts.Baseline, Config: opts.Config, ElapsedMS: ex.Elapsed.Milliseconds(), Report: rep}
	if err := render(out, opts.Output, o, func(w io.Writer) error { return verifyCMLText(w, &o) }); err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 || !rep.Verified {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return mismatch("device %s NOT verified: %d of %d checks failed (%s)", addr, len(failed), len(rep.Checks), strings.Join(names, ", "))
	}
	return nil
}

func verifyCMLText(w io.Writer, o *verifyCMLOutput) error {
	r := o.Report
	if q := r.Request; q != nil {
		fmt.Fprintf(w, "device %s: %s request for %s, nonce %s (%d ms)\n", o.Device, q.AType, q.Selection, q.Nonce, o.ElapsedMS)
	}
	if q := r.Quote; q != nil {
		fmt.Fprintf(w, "quote: %s, %s, signature %s, clock %d ms\n", q.Type, q.Selection, q.Signature, q.Clock)
	}
	if c := r.Certificate; c != nil {
		self := ""
		if c.SelfSigned {
			self = ", self-signed"
		}
		fmt.Fprintf(w, "device certificate: %s, subject %s, issuer %s, serial %s, valid to %s%s\n", c.Key, c.Subject, c.Issuer, c.Serial, c.NotAfter, self)
	}
	if m := r.IMA; m != nil && m.Bytes > 0 {
		fmt.Fprintf(w, "IMA list: %d entries, %d violations, %d signed (%d verified), %d unsigned\n", m.Entries, m.Violations, m.Signed, m.Verified, m.Unsigned)
	}
	for _, c := range r.Containers {
		fmt.Fprintf(w, "container: %s %s:%s\n", c.Filename, c.DataHashAlg, c.DataHash)
	}
	writeQuoteChecks(w, r.Checks, "")
	return nil
}

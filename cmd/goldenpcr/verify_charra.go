package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/charra"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

type verifyCharraOptions struct {
	Attester          string
	AK                string
	Expected          string
	PCRs              string
	Logs              string
	NonceSize         int
	Timeout           time.Duration
	AllowUnrestricted bool
	PSKIdentity       string
	PSKKey            string
	Output            string
}

func newVerifyCharraCmd() *cobra.Command {
	opts := &verifyCharraOptions{}
	c := &cobra.Command{
		Use:   "charra coap://HOST[:5683]|coaps://HOST[:5684] --ak AK --expected B",
		Short: "Ask a CHARRA attester for a quote and verify it, with the checks CHARRA's own verifier skips",
		Long: `Send a CHARRA attester (TrenchBoot's attestation; CoAP FETCH /attest over
UDP, or DTLS with a pre-shared key for coaps://; CBOR as CHARRA's C
verifier encodes it) a request with a fresh nonce,
read the whole answer block by block, and verify it check by check:

  response       a TAP answer (PCR attestation IE, TPM2_Quote subtype) with
                 the logs requested, in request order, or the 3mdeb fork's
                 older form
  response-public-key
                 (3mdeb form only) the key the answer carries is --ak; it is
                 never trusted on its own
  attest-header, signature, ak-attributes, ak-trust, nonce, pcr-selection,
  pcr-digest, event-log, expected-pcrs, clock
                 as 'verify quote' checks them: the raw tpm2-tss signature
                 verifies with --ak (CHARRA sends no key), the AK is a
                 restricted signing key, the whole extraData is the nonce,
                 the quote is a quote and selects EXACTLY --pcrs (a bank the
                 TPM dropped fails), and the values hash to pcrDigest
  tcg-boot-log, ima-*
                 the returned TCG boot log and IMA list parse and replay to
                 the quoted PCRs (CHARRA only counts them)

CHARRA sends no PCR values: the values pcrDigest is checked against are the
logs' replay (PCR 10 the IMA list's), and for PCRs no log extends the
--expected values or reset values; so a log that does not explain the
quote fails, and the expected values are then compared PCR by PCR, naming
the PCR that differs (CHARRA's verifier only says that no composite
matched). What CHARRA's verifier checks besides: nothing.

Exit codes: 0 = verified, 1 = not verified (a ✗ in the report), 2 = bad usage,
an unreadable --ak or --expected, or an attester that cannot be reached or
does not answer within --timeout (CHARRA's attester dies on a request it
cannot handle and sends nothing).`,
		Example: `  goldenpcr verify charra coap://10.0.0.5 --ak ak.pub --expected reference-pcrs.yml
  goldenpcr verify charra coap://attester.lan:5683 --ak ak.pub --expected golden.yaml \
      --pcrs sha256:0-7,10+sha1:17,18 --logs tcg-boot,ima --timeout 10s -o json
  goldenpcr verify charra coaps://10.0.0.5 --dtls-psk-key "CHARRA DTLS Key" --ak ak.pub --expected golden.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Attester = args[0]
			return runVerifyCharra(c.Context(), opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.AK, "ak", "", "the attester's AK: TPM2B_PUBLIC (tpm2_createak -u, as CHARRA's verifier reads it), PEM, DER or X.509 (required)")
	f.StringVar(&opts.Expected, "expected", "", "golden values: a goldenpcr baseline, a PCR file or a CHARRA reference-pcrs.yml (required)")
	f.StringVar(&opts.PCRs, "pcrs", "sha256:0-7,10", "the PCRs to quote, banks in pcrDigest order (CHARRA's default)")
	f.StringVar(&opts.Logs, "logs", "tcg-boot,ima", "the logs to ask for: tcg-boot, ima, both, or none")
	f.IntVar(&opts.NonceSize, "nonce-size", charra.DefaultNonceSize, fmt.Sprintf("bytes of fresh nonce (1 to %d; CHARRA sends %d)", charra.MaxNonce, charra.DefaultNonceSize))
	f.DurationVar(&opts.Timeout, "timeout", charra.DefaultTimeout, "how long to wait for the whole answer")
	f.StringVar(&opts.PSKIdentity, "dtls-psk-identity", charra.DefaultPSKIdentity, "with coaps://: the DTLS PSK identity sent")
	f.StringVar(&opts.PSKKey, "dtls-psk-key", "", "with coaps://: the DTLS pre-shared key, as CHARRA's configuration gives it (its YAML ships \"CHARRA DTLS Key\"); cipher suite TLS_PSK_WITH_AES_128_CCM_8, as CHARRA's tinydtls")
	f.BoolVar(&opts.AllowUnrestricted, "allow-unrestricted", false, "accept an AK without TPM attributes (PEM, DER) or one that is not restricted")
	outputFlag(c, &opts.Output)
	return c
}

func charraOptionNames(o charra.Option) string {
	switch o {
	case charra.OptAK:
		return "--ak"
	case charra.OptExpected:
		return "--expected"
	case charra.OptAllowUnrestricted:
		return "--allow-unrestricted"
	}
	return ""
}

func (o *verifyCharraOptions) request() (*charra.Request, error) {
	sel, err := pcr.ParseSelection(o.PCRs)
	if err != nil {
		return nil, fmt.Errorf("--pcrs: %w", err)
	}
	var logs []string
	if o.Logs != "none" {
		for _, l := range strings.Split(o.Logs, ",") {
			l = strings.TrimSpace(l)
			if l != charra.LogTCGBoot && l != charra.LogIMA {
				return nil, fmt.Errorf("--logs %q: want tcg-boot, ima, tcg-boot,ima or none", o.Logs)
			}
			for _, seen := range logs {
				if seen == l {
					return nil, fmt.Errorf("--logs %q: %s twice", o.Logs, l)
				}
			}
			logs = append(logs, l)
		}
	}
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: want a positive duration, e.g. 30s", o.Timeout)
	}
	if o.NonceSize < 1 || o.NonceSize > charra.MaxNonce {
		return nil, fmt.Errorf("--nonce-size %d: want 1 to %d (a longer nonce crashes CHARRA's attester)", o.NonceSize, charra.MaxNonce)
	}
	req, err := charra.NewRequest(sel, logs, o.NonceSize)
	if err != nil {
		return nil, fmt.Errorf("--pcrs %s: %w", o.PCRs, err)
	}
	return req, nil
}

func (o *verifyCharraOptions) policy() (*charra.Policy, error) {
	switch {
	case o.AK == "":
		return nil, fmt.Errorf("--ak is required: CHARRA sends no public key, so without the pinned AK nothing authenticates the quote")
	case o.Expected == "":
		return nil, fmt.Errorf("--expected is required: the golden values the quoted PCRs are compared with")
	}
	p := &charra.Policy{AllowUnrestricted: o.AllowUnrestricted, OptionName: charraOptionNames}
	data, err := readSmall(o.AK, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--ak: %w", err)
	}
	if p.AK, err = tpmstruct.ParsePublic(data); err != nil {
		return nil, fmt.Errorf("--ak %s: %w", o.AK, err)
	}
	if p.Expected, err = baseline.Load(o.Expected, pcr.ReadOptions{}); err != nil {
		return nil, fmt.Errorf("--expected: %w", err)
	}
	return p, nil
}

type verifyCharraOutput struct {
	Verified bool   `json:"verified" yaml:"verified"`
	Attester string `json:"attester" yaml:"attester"`
	Expected string `json:"expected" yaml:"expected"`
	// ElapsedMS is the time from the request to the answer's last block.
	ElapsedMS      int64 `json:"elapsed_ms" yaml:"elapsed_ms"`
	Bytes          int   `json:"response_bytes" yaml:"response_bytes"`
	*charra.Report `yaml:",inline"`
}

func runVerifyCharra(ctx context.Context, opts *verifyCharraOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := opts.request()
	if err != nil {
		return err
	}
	p, err := opts.policy()
	if err != nil {
		return err
	}
	target, err := charra.ParseTarget(opts.Attester)
	if err != nil {
		return err
	}
	switch {
	case target.DTLS && opts.PSKKey == "":
		return fmt.Errorf("%s: coaps:// needs --dtls-psk-key (CHARRA's raw-public-key DTLS is not supported)", opts.Attester)
	case !target.DTLS && (opts.PSKKey != "" || opts.PSKIdentity != charra.DefaultPSKIdentity):
		return fmt.Errorf("--dtls-psk-key and --dtls-psk-identity go with a coaps:// attester")
	case target.DTLS:
		target.PSK = &charra.PSK{Identity: []byte(opts.PSKIdentity), Key: []byte(opts.PSKKey)}
	}
	addr := target.Addr
	ex, err := charra.Attest(ctx, target, req, opts.Timeout)
	if err != nil {
		return err
	}
	rep := charra.VerifyExchange(ex, p)
	o := verifyCharraOutput{Verified: rep.Verified, Attester: addr, Expected: opts.Expected, ElapsedMS: ex.Elapsed.Milliseconds(), Bytes: len(ex.Payload), Report: rep}
	if err := render(out, opts.Output, o, func(w io.Writer) error { return verifyCharraText(w, &o) }); err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 || !rep.Verified {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return mismatch("attester %s NOT verified: %d of %d checks failed (%s)", addr, len(failed), len(rep.Checks), strings.Join(names, ", "))
	}
	return nil
}

func verifyCharraText(w io.Writer, o *verifyCharraOutput) error {
	r := o.Report
	if q := r.Request; q != nil {
		fmt.Fprintf(w, "attester %s: request for %s, logs %s, nonce %s (%d bytes back in %d ms)\n", o.Attester, q.Selection, strings.Join(q.Logs, ","), q.Nonce, o.Bytes, o.ElapsedMS)
	}
	if q := r.Quote; q != nil {
		fmt.Fprintf(w, "quote: %s, %s, signature %s, clock %d ms\n", q.Type, q.Selection, q.Signature, q.Clock)
	}
	for _, l := range r.Logs {
		fmt.Fprintf(w, "log %s: %d bytes, %d entries\n", l.Identifier, l.Bytes, l.Entries)
	}
	if len(r.PCRSources) > 0 {
		fmt.Fprintf(w, "PCR values: %s\n", strings.Join(r.PCRSources, "; "))
	}
	writeQuoteChecks(w, r.Checks, "")
	return nil
}

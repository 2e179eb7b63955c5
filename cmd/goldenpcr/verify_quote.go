package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goldenpcr/goldenpcr/ear"
	"github.com/goldenpcr/goldenpcr/internal/loadcache"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/verdict"
)

func newVerifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify attestation evidence: TPM quotes against keys, nonces, PCRs and event logs; GyroidOS CML devices; PSA and CCA tokens against CoRIMs; EAR results",
	}
	c.AddCommand(newVerifyQuoteCmd(), newVerifyCMLCmd(), newVerifyCharraCmd(), newVerifyPSACmd(), newVerifyCCACmd(), newVerifyEARCmd())
	return c
}

type verifyQuoteOptions struct {
	AK                string
	AKName            string
	Message           string
	Signature         string
	SigFormat         string
	SigAlg            string
	Nonce             string
	NonceFile         string
	NoNonce           bool
	PCRs              string
	PCRsFormat        string
	PCRsSel           string
	EventLog          []string
	Expected          string
	ExpectedFormat    string
	ExpectedSel       string
	Corim             string
	CorimSel          string
	CorimRoots        []string
	AllowUnrestricted bool
	MinResetCount     uint32
	MinRestartCount   uint32
	MinClock          uint64
	MaxClock          uint64
	RequireSafe       bool
	Output            string
	EARKey            string
	// Who vouches for the AK, and what the event log must explain.
	AllowUntrustedAK     bool
	RequireEventLog      bool
	AllowMissingEventLog bool
	UnloggedPCRs         string

	// Whole attestations (verify_quote_bundle.go).
	Attestation        string
	AttestationFormat  string
	PlatformParameters string
	// EK and AK certificate checks (verify_quote_certs.go).
	EKCert          string
	EKRoots         []string
	EKIntermediates []string
	EKPub           string
	AKCert          string
	AKRoots         []string
	AKIntermediates []string
	// Batch verification (verify_quote_batch.go).
	Batch        string
	BatchSummary bool
	Jobs         int
	// changed lists the options given on the command line.
	changed []string
}

func newVerifyQuoteCmd() *cobra.Command {
	opts := &verifyQuoteOptions{}
	c := &cobra.Command{
		Use:   "quote --ak AK -m MSG -s SIG --nonce HEX --pcrs PCRS",
		Short: "Verify a TPM2_Quote: signature, AK, nonce, PCR digest, event log, expected values",
		Long: `Verify a TPM 2.0 quote the way a remote verifier must, and print every check
with the reason it passed or failed. Nothing is trusted that was not checked:

  attest-header  the message is a TPMS_ATTEST with magic TPM_GENERATED_VALUE
                 (0xff544347) and type TPM_ST_ATTEST_QUOTE (0x8018)
  signature      the signature verifies under the AK with the scheme and hash
                 it names (RSASSA-PKCS1-v1_5, RSASSA-PSS with any salt length,
                 ECDSA); no --ak means FAILED, not skipped
  ak-attributes  the AK is a restricted signing key, so it cannot have signed
                 a forged TPMS_ATTEST (needs the TPM2B_PUBLIC; a PEM key carries
                 no attributes); --allow-unrestricted accepts other keys, as
                 GyroidOS CML's unrestricted quote key needs
  ak-name        with --ak-name: the AK's TPM Name is the expected one
  ak-trust       something the verifier trusts vouches for the AK: it is the
                 --ak key, has the --ak-name Name, or a certificate chaining
                 to --ak-roots certifies it; an attestation's own AK proves
                 nothing (anyone can make one in software), so without one of
                 these it FAILS; --allow-untrusted-ak accepts that, loudly
  nonce          extraData equals the nonce byte for byte; no nonce is a
                 failure unless --no-nonce says so
  pcr-selection  the quote selects at least one PCR, exactly the banks and
                 PCRs of --pcrs
  pcr-digest     the signature's hash over the --pcrs values, concatenated in
                 the quote's selection order, equals the quote's pcrDigest
  event-log      with --eventlog: the replayed log equals the quoted value of
                 every quoted PCR the log extends (names the first that
                 differs), every other quoted PCR is at its reset value or
                 explained by --expected or --unlogged-pcrs (10 for IMA), and
                 no event's data contradicts its digest; an attestation must
                 carry its log (--allow-missing-eventlog), a single quote
                 only with --require-eventlog
  expected-pcrs  with --expected: a goldenpcr baseline (refvals compute) whose
                 every PCR is quoted with its value or an accepted variant, or
                 a PCR file some alternative of which matches every PCR it
                 names, compared with the quoted values
  clock          reports clock, resetCount, restartCount, safe and the firmware
                 version; --min-reset-count, --min-clock, … turn them into limits

Inputs: the message as tpm2_quote -m writes it (a bare TPMS_ATTEST) or a
TPM2B_ATTEST; the signature as TPMT_SIGNATURE (tpm2_quote -s, -f tss, the
default) or, with --sig-format plain and --sig-alg, as raw RSA bytes or
DER/r||s ECDSA (tpm2_quote -f plain); message and signature files may also be
hex text, as GyroidOS prints them. The AK as TPM2B_PUBLIC (tpm2_createak -u,
tpm2_readpublic -f tss), TPMT_PUBLIC, PEM or DER public key, or X.509
certificate. PCR values (--pcrs, --expected) in any format goldenpcr reads:

` + pcrFormatHelp() + `

A --pcrs file in -F values format takes its selection from --pcrs-sel, or
else from the quote itself.

Whole attestations: --attestation takes a go-tpm-tools attest.Attestation
(protobuf or protojson), --platform-parameters a go-attestation
PlatformParameters (JSON); every quote in them is verified as above with the
bundle's AK, PCR values and event log, plus the checks "quotes" (at least
one) and "pcr-coverage" (go-attestation: every listed PCR is covered by a
verified quote). Pin the bundle's AK with --ak-name, --ak or --ak-roots.

An empty option value ('--ak-name ""') and an option given twice are bad
usage (exit 2), never a check switched off.

CoRIMs: --corim C.cbor takes the expected values and the trusted AK from a
PARSEC_TPM or TPM_ENACTTRUST CoRIM (goldenpcr corim create), as Veraison
appraises them: a PARSEC_TPM CoRIM must name every quoted PCR, and every PCR
it names must be quoted with its value; a TPM_ENACTTRUST CoRIM's composite
digest must be the quote's over exactly --corim-sel (the CoRIM does not
carry its selection). The CoRIM's trust anchor is the trusted AK (an --ak
beside it must be that key; without --ak it also verifies the signature),
and the nonce is always checked (--no-nonce is refused). A signed CoRIM must
verify with its x5chain; its signer is reported. Not with --expected.

EK certificates: --ek-cert with --ek-roots (and --ek-intermediates) adds
"ek-cert" (chain, EKU 2.23.133.8.1, critical extensions, the TCG
subjectAltName decoded into the report) and, with --ek-pub, "ek-pub" (the
certificate certifies that EK).

AK certificates: --ak-roots (and --ak-intermediates) adds "ak-cert": the
AK's certificate (--ak-cert, else --ak when it is a certificate, else the
attestation's ak_cert and intermediate_certs) chains to a given root and
certifies the very key the quote was verified with; no certificate fails.

Batches: --batch FILE.jsonl verifies one request per line (a JSON object:
ak/ak_hex, message/message_hex, signature/signature_hex, pcrs/pcr_values,
nonce/no_nonce, attestation, … see docs/verify.md) on --jobs workers and
prints one JSON result per line in input order; --batch - reads the lines
from standard input and writes each result as soon as it is ready (behind a
pipe or a queue); --batch-summary counts verified, failed (by check) and
malformed lines on stderr at the end.

Exit codes: 0 = every check passed (checks skipped by an explicit option or
a missing optional input do not count), 1 = some check failed, 2 = an input
is unreadable or malformed, or the options contradict each other. With
--batch: 0 = every line verified, 1 = some line failed or was malformed,
2 = the batch file cannot be read.`,
		Example: `  # On the device: an AK under the EK, then a quote over a fresh nonce.
  tpm2_createek -c ek.ctx -u ek.pub
  tpm2_createak -C ek.ctx -c ak.ctx -u ak.pub -n ak.name      # ak.pub: TPM2B_PUBLIC
  tpm2_quote -c ak.ctx -q "$NONCE" -l sha1:0,1,2+sha256:0,7,16 -g sha256 \
      -m quote.msg -s quote.sig -o quote.pcrs -F serialized
  cp /sys/kernel/security/tpm0/binary_bios_measurements boot.log

  # On the verifier, which chose NONCE (e.g. NONCE=$(openssl rand -hex 16)):
  goldenpcr verify quote --ak ak.pub --ak-name ak.name -m quote.msg -s quote.sig \
      --nonce "$NONCE" --pcrs quote.pcrs --eventlog boot.log --expected golden.yaml

  # A go-tpm-tools attestation (client.Key.Attest), its AK pinned by Name, with
  # the TPM's EK certificate:
  goldenpcr verify quote --attestation att.pb --nonce "$NONCE" --ak-name ak.name \
      --ek-cert ek.crt --ek-roots tpm-vendor-cas/ --ek-pub ek.pub

  # Thousands of quotes, one JSON request per line:
  goldenpcr verify quote --batch requests.jsonl > results.jsonl

  # A plain ECDSA signature (tpm2_quote -f plain), JSON report:
  goldenpcr verify quote --ak ak.pem -m quote.msg -s quote.sig --sig-format plain \
      --sig-alg ecdsa-sha256 --allow-unrestricted --nonce "$NONCE" --pcrs quote.pcrs -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			c.Flags().Visit(func(f *pflag.Flag) { opts.changed = append(opts.changed, f.Name) })
			return runVerifyQuote(opts, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.AK, "ak", "", "attestation key: TPM2B_PUBLIC, TPMT_PUBLIC, PEM/DER public key or X.509 certificate")
	f.StringVar(&opts.AKName, "ak-name", "", "expected TPM Name of the AK: a file (tpm2_createak -n) or hex")
	f.StringVarP(&opts.Message, "message", "m", "", "the quoted TPMS_ATTEST (tpm2_quote -m) or TPM2B_ATTEST (required)")
	f.StringVarP(&opts.Signature, "signature", "s", "", "the quote's signature (tpm2_quote -s) (required)")
	f.StringVar(&opts.SigFormat, "sig-format", "", "signature format: tss (TPMT_SIGNATURE, the default) or plain")
	f.StringVar(&opts.SigAlg, "sig-alg", "", "scheme and hash of a plain signature: rsassa-sha256, rsapss-sha256, ecdsa-sha384, …")
	f.StringVar(&opts.Nonce, "nonce", "", "the nonce (qualifying data) the verifier sent, hex")
	f.StringVar(&opts.NonceFile, "nonce-file", "", "file holding the nonce as raw bytes")
	f.BoolVar(&opts.NoNonce, "no-nonce", false, "accept a quote without checking its freshness (reported as skipped)")
	f.StringVar(&opts.PCRs, "pcrs", "", "the PCR values the quote covers (tpm2_quote -o)")
	f.StringVar(&opts.PCRsFormat, "pcrs-format", "", "format of --pcrs (default: detected)")
	f.StringVar(&opts.PCRsSel, "pcrs-sel", "", "selection of a --pcrs file in -F values format (default: the quote's)")
	f.StringArrayVar(&opts.EventLog, "eventlog", nil, "TCG event log (binary_bios_measurements) to replay against the quoted PCRs; repeat it for a Canonical Event Log of the same boot (systemd's tpm2-measure.log, CEL-JSON or CEL-TLV), replayed after the firmware log")
	f.StringVar(&opts.Expected, "expected", "", "expected PCR values: a goldenpcr baseline (variants accepted) or a PCR file; any alternative (CHARRA document) may match")
	f.StringVar(&opts.ExpectedFormat, "expected-format", "", "format of --expected (default: detected)")
	f.StringVar(&opts.ExpectedSel, "expected-sel", "", "selection of an --expected file in -F values format")
	f.StringVar(&opts.Corim, "corim", "", "a PARSEC_TPM or TPM_ENACTTRUST CoRIM (signed or not): the expected values, and its trust anchor the trusted AK")
	f.StringArrayVar(&opts.CorimRoots, "corim-roots", nil, "CAs a signed --corim's signer must chain to (PEM/DER file or folder, repeatable), as Veraison's configured CAs")
	f.StringVar(&opts.CorimSel, "corim-sel", "", "the PCR selection a TPM_ENACTTRUST CoRIM's composite digest is over (corim create --pcrs), e.g. sha256:0-7")
	f.BoolVar(&opts.AllowUnrestricted, "allow-unrestricted", false, "accept an AK that is not a restricted signing key, or whose attributes are unknown (PEM, DER, certificate)")
	f.Uint32Var(&opts.MinResetCount, "min-reset-count", 0, "fail if clockInfo.resetCount (TPM resets, i.e. reboots) is below N")
	f.Uint32Var(&opts.MinRestartCount, "min-restart-count", 0, "fail if clockInfo.restartCount (resumes since the last reset) is below N")
	f.Uint64Var(&opts.MinClock, "min-clock", 0, "fail if clockInfo.clock (ms) is below N, e.g. the clock of an earlier quote")
	f.Uint64Var(&opts.MaxClock, "max-clock", 0, "fail if clockInfo.clock (ms) is above N")
	f.BoolVar(&opts.RequireSafe, "require-safe", false, "fail if clockInfo.safe is NO")
	f.BoolVar(&opts.AllowUntrustedAK, "allow-untrusted-ak", false, "INSECURE: accept an attestation's AK that nothing vouches for (no --ak, --ak-name or --ak-roots); reported as NOT CHECKED")
	f.BoolVar(&opts.RequireEventLog, "require-eventlog", false, "fail a single quote given without --eventlog (attestations need their log by default)")
	f.BoolVar(&opts.AllowMissingEventLog, "allow-missing-eventlog", false, "accept an attestation without an event log (its PCR values are then explained by --expected alone)")
	f.StringVar(&opts.UnloggedPCRs, "unlogged-pcrs", "", "PCRs extended outside the TCG event log, e.g. 10 (IMA) or 11 (GyroidOS); the log need not explain them")
	f.StringVar(&opts.Attestation, "attestation", "", "a go-tpm-tools attest.Attestation (protobuf binary or protojson): verify every quote in it")
	f.StringVar(&opts.AttestationFormat, "attestation-format", "", "format of --attestation: pb or json (default: detected)")
	f.StringVar(&opts.PlatformParameters, "platform-parameters", "", "a go-attestation PlatformParameters as JSON: verify every quote in it")
	f.StringVar(&opts.EKCert, "ek-cert", "", "the TPM's EK certificate (PEM or DER), checked against --ek-roots")
	f.StringArrayVar(&opts.EKRoots, "ek-roots", nil, "TPM manufacturer root CAs for --ek-cert: a PEM/DER file or a folder of them (repeatable)")
	f.StringArrayVar(&opts.EKIntermediates, "ek-intermediates", nil, "intermediate CAs for --ek-cert: a PEM/DER file or a folder of them (repeatable)")
	f.StringVar(&opts.EKPub, "ek-pub", "", "the EK public key (tpm2_createek -u, PEM, …): the EK certificate must certify it")
	f.StringVar(&opts.AKCert, "ak-cert", "", "the AK's certificate (PEM or DER), checked against --ak-roots (default: --ak if it is a certificate, or the attestation's ak_cert)")
	f.StringArrayVar(&opts.AKRoots, "ak-roots", nil, "CAs that certify AKs (privacy CA, cloud AK CA): a PEM/DER file or a folder of them (repeatable); requires a certified AK")
	f.StringArrayVar(&opts.AKIntermediates, "ak-intermediates", nil, "intermediate CAs for the AK certificate: a PEM/DER file or a folder of them (repeatable)")
	f.StringVar(&opts.Batch, "batch", "", "verify every line of a JSON Lines file, or of standard input for - (results as each is ready), and print one JSON result per line (docs/verify.md)")
	f.BoolVar(&opts.BatchSummary, "batch-summary", false, "with --batch: print on stderr, at the end, how many lines were verified, failed (by check) and malformed")
	f.IntVar(&opts.Jobs, "jobs", 0, "parallel verifications of --batch (default: one per CPU)")
	verdictOutputFlags(c, &opts.Output, &opts.EARKey)
	return c
}

// Size limits for the small binary inputs: a TPMS_ATTEST is at most a few
// hundred bytes, a certificate a few kilobytes.
const (
	maxQuoteFile = 64 << 10
	maxKeyFile   = 1 << 20
)

// readSmall reads a whole file, refusing one larger than max.
func readSmall(path string, max int64) ([]byte, error) {
	return loadcache.ReadFile(path, max)
}

// readLimited reads all of r, named path in errors, refusing more than max
// bytes.
func readLimited(r io.Reader, path string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}

// maybeHex decodes data that is nothing but hex digits and white space,
// as GyroidOS documentation and logs print quotes; binary data is
// returned as is. A binary TPMS_ATTEST or TPMT_SIGNATURE never looks like
// hex text: they start with 0xff and 0x00.
func maybeHex(data []byte) []byte {
	s := strings.Join(strings.Fields(string(data)), "")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" || len(s)%2 != 0 {
		return data
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return data
	}
	return b
}

// parseHexArg decodes a hex option value, allowing a 0x prefix.
func parseHexArg(flag, v string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v), "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s %q: want hex bytes, e.g. 0123abcd", flag, v)
	}
	return b, nil
}

// verifyInputs echoes the files a report was made from.
type verifyInputs struct {
	Message   string `json:"message" yaml:"message"`
	Signature string `json:"signature" yaml:"signature"`
	AK        string `json:"ak,omitempty" yaml:"ak,omitempty"`
	PCRs      string `json:"pcrs,omitempty" yaml:"pcrs,omitempty"`
	EventLog  string `json:"eventlog,omitempty" yaml:"eventlog,omitempty"`
	// EventLogs lists every log when several were replayed together.
	EventLogs []string `json:"eventlogs,omitempty" yaml:"eventlogs,omitempty"`
	Expected  string   `json:"expected,omitempty" yaml:"expected,omitempty"`
	Corim     string   `json:"corim,omitempty" yaml:"corim,omitempty"`
}

type verifyQuoteOutput struct {
	Verified bool                `json:"verified" yaml:"verified"`
	Inputs   verifyInputs        `json:"inputs" yaml:"inputs"`
	Quote    *quote.QuoteSummary `json:"quote,omitempty" yaml:"quote,omitempty"`
	AK       *quote.AKSummary    `json:"ak,omitempty" yaml:"ak,omitempty"`
	EK       *tpmcert.EKSummary  `json:"ek,omitempty" yaml:"ek,omitempty"`
	Checks   []quote.Check       `json:"checks" yaml:"checks"`
}

// request turns the options into the request a batch line would make.
func (o *verifyQuoteOptions) request() *Request {
	return &Request{
		AK: o.AK, AKName: o.AKName, Message: o.Message, Signature: o.Signature, SigFormat: o.SigFormat, SigAlg: o.SigAlg,
		PCRs: o.PCRs, PCRsFormat: o.PCRsFormat, PCRsSel: o.PCRsSel,
		Nonce: o.Nonce, NonceFile: o.NonceFile, NoNonce: o.NoNonce,
		EventLog: first(o.EventLog), MoreEventLogs: rest(o.EventLog), Expected: o.Expected, ExpectedFormat: o.ExpectedFormat, ExpectedSel: o.ExpectedSel,
		Corim: o.Corim, CorimSel: o.CorimSel, CorimRoots: o.CorimRoots,
		AllowUnrestricted: o.AllowUnrestricted, MinResetCount: o.MinResetCount, MinRestartCount: o.MinRestartCount,
		MinClock: o.MinClock, MaxClock: o.MaxClock, RequireSafe: o.RequireSafe,
		Attestation: o.Attestation, AttestationFormat: o.AttestationFormat, PlatformParameters: o.PlatformParameters,
		AKCert: o.AKCert, AKRoots: o.AKRoots, AKIntermediates: o.AKIntermediates, AllowUntrustedAK: o.AllowUntrustedAK,
		EKCert: o.EKCert, EKRoots: o.EKRoots, EKIntermediates: o.EKIntermediates, EKPub: o.EKPub,
		RequireEventLog: o.RequireEventLog, AllowMissingEventLog: o.AllowMissingEventLog, UnloggedPCRs: o.UnloggedPCRs,
	}
}

// first, rest and several split a repeated option's values.
func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func rest(v []string) []string {
	if len(v) < 2 {
		return nil
	}
	return v[1:]
}

func several(v []string) []string {
	if len(v) < 2 {
		return nil
	}
	return v
}

func runVerifyQuote(opts *verifyQuoteOptions, in io.Reader, out, errOut io.Writer) error {
	if opts.Batch != "" {
		return runVerifyQuoteBatch(opts, in, out, errOut)
	}
	v, err := loadRequest(opts.request(), commandLine)
	if err != nil {
		return err
	}
	if v.bundle != nil {
		return renderBundle(opts, v, out)
	}
	rep := v.verify().single
	o := verifyQuoteOutput{
		Verified: rep.Verified,
		Inputs: verifyInputs{Message: opts.Message, Signature: opts.Signature, AK: opts.AK,
			PCRs: opts.PCRs, EventLog: first(opts.EventLog), EventLogs: several(opts.EventLog), Expected: opts.Expected, Corim: opts.Corim},
		Quote: rep.Quote, AK: rep.AK, EK: rep.EK, Checks: rep.Checks,
	}
	if err := renderResult(out, opts.Output, opts.EARKey, quoteEAR(v, rep.Checks), o, func(w io.Writer) error { return verifyQuoteText(w, &o) }); err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return mismatch("quote NOT verified: %d of %d checks failed (%s)", len(failed), len(rep.Checks), strings.Join(names, ", "))
	}
	return nil
}

func verifyQuoteText(w io.Writer, o *verifyQuoteOutput) error {
	if q := o.Quote; q != nil {
		sel := q.Selection
		if sel == "" {
			sel = "no PCR selection"
		}
		fmt.Fprintf(w, "quote %s: %s, %s, signature %s\n", o.Inputs.Message, q.Type, sel, q.Signature)
		safe := "no"
		if q.Safe {
			safe = "yes"
		}
		fmt.Fprintf(w, "  extraData %s, clock %d ms, resetCount %d, restartCount %d, safe %s, firmware %s\n",
			orNone(q.ExtraData), q.Clock, q.ResetCount, q.RestartCount, safe, q.FirmwareVersion)
	}
	if ak := o.AK; ak != nil {
		name := o.Inputs.AK
		if name == "" && o.Inputs.Corim != "" {
			name = "of " + o.Inputs.Corim
		}
		fmt.Fprintf(w, "AK %s: %s, %s", name, ak.Format, ak.Key)
		if ak.Attributes != "" {
			fmt.Fprintf(w, ", %s, scheme %s", ak.Attributes, ak.Scheme)
		}
		if ak.Name != "" {
			fmt.Fprintf(w, ", name %s", ak.Name)
		}
		fmt.Fprintln(w)
	}
	writeEKSummary(w, o.EK)
	writeQuoteChecks(w, o.Checks, "")
	return nil
}

// writeEKSummary prints the EK certificate line of a text report.
func writeEKSummary(w io.Writer, ek *tpmcert.EKSummary) {
	if ek == nil {
		return
	}
	fmt.Fprintf(w, "EK certificate: %s, issuer %s, serial %s", ek.Key, ek.Issuer, ek.Serial)
	if ek.Manufacturer != "" {
		fmt.Fprintf(w, ", TPM %s", ek.Manufacturer)
		if ek.ManufacturerName != "" {
			fmt.Fprintf(w, " (%s)", ek.ManufacturerName)
		}
		fmt.Fprintf(w, " model %s version %s", ek.Model, ek.Version)
	}
	fmt.Fprintln(w)
}

// writeQuoteChecks prints ✓/✗/- lines for checks, each indented by indent,
// and the verdict line.
func writeQuoteChecks(w io.Writer, checks []quote.Check, indent string) {
	failed, skipped := writeQuoteCheckLines(w, checks, indent)
	switch {
	case failed > 0:
		fmt.Fprintf(w, "%sNOT VERIFIED: %d of %d checks failed\n", indent, failed, len(checks))
	case skipped > 0:
		fmt.Fprintf(w, "%sverified: every check passed (%d skipped: not asked for, or opted out)\n", indent, skipped)
	default:
		fmt.Fprintf(w, "%sverified: every check passed\n", indent)
	}
}

// writeQuoteCheckLines prints the ✓/✗/- lines (with the details of failed
// checks) and counts the failed and skipped checks.
func writeQuoteCheckLines(w io.Writer, checks []quote.Check, indent string) (failed, skipped int) {
	width := 0
	for _, c := range checks {
		width = max(width, len(c.Name))
	}
	for _, c := range checks {
		mark := checkMark(&c)
		switch {
		case c.Skipped:
			skipped++
		case c.Failed():
			failed++
		}
		fmt.Fprintf(w, "%s%s %-*s  %s\n", indent, mark, width, c.Name, c.Reason)
		// Notes decide nothing but must be seen whatever the outcome.
		for _, n := range c.Notes {
			fmt.Fprintf(w, "%s  %*s  note: %s\n", indent, width, "", n)
		}
		if warn := c.Details["warning"]; warn != "" && mark != "✗" {
			fmt.Fprintf(w, "%s  %*s  WARNING: %s\n", indent, width, "", warn)
		}
		if mark == "✗" && len(c.Details) > 0 {
			keys := make([]string, 0, len(c.Details))
			for k := range c.Details {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "%s  %*s  %s: %s\n", indent, width, "", k, c.Details[k])
			}
		}
	}
	return failed, skipped
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

// quoteEAR is what -o ear says of a quote's or an attestation's checks.
func quoteEAR(v *verification, checks verdict.Checks) ear.Issue {
	return ear.Issue{Submod: "TPM", Checks: checks, Vector: ear.TPMQuoteVector, Nonce: freshNonce(checks, quote.CheckNonce, v.policy.Nonce)}
}

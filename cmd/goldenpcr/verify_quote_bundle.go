package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/internal/loadcache"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// maxBundleFile bounds an attestation file: quotes are small, but the
// event log of a real machine can be hundreds of kilobytes.
const maxBundleFile = 64 << 20

// readQuoteBundle parses an attestation file of the given kind: "attestation"
// (go-tpm-tools, format pb, json or "" to detect) or "platform_parameters"
// (go-attestation JSON).
func readQuoteBundle(path, kind, format string, src requestSource) (*attestation.Bundle, error) {
	var data []byte
	var err error
	if src.scratch != nil {
		data, err = loadcache.ReadFileTo(path, maxBundleFile, *src.scratch)
		if data != nil {
			*src.scratch = data[:0]
		}
	} else {
		data, err = readSmall(path, maxBundleFile)
	}
	if err != nil {
		return nil, err
	}
	var b *attestation.Bundle
	if kind == "platform_parameters" {
		b, err = attestation.ParsePlatformParameters(data)
	} else {
		switch format {
		case "":
			if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
				format = "json"
			} else {
				format = "pb"
			}
		case "pb", "json":
		default:
			return nil, fmt.Errorf("%s %q: want pb (protobuf binary) or json (protojson)", src.name("attestation_format"), format)
		}
		if format == "json" {
			b, err = attestation.ParseAttestationJSON(data)
		} else {
			b, err = attestation.ParseAttestation(data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

type bundleSummary struct {
	Format            string   `json:"format" yaml:"format"`
	Quotes            int      `json:"quotes" yaml:"quotes"`
	PCRs              int      `json:"pcrs,omitempty" yaml:"pcrs,omitempty"`
	EventLogBytes     int      `json:"event_log_bytes" yaml:"event_log_bytes"`
	EventLogEvents    int      `json:"event_log_events,omitempty" yaml:"event_log_events,omitempty"`
	AKCert            bool     `json:"ak_cert,omitempty" yaml:"ak_cert,omitempty"`
	IntermediateCerts int      `json:"intermediate_certs,omitempty" yaml:"intermediate_certs,omitempty"`
	Ignored           []string `json:"not_verified,omitempty" yaml:"not_verified,omitempty"`
}

type bundleInputs struct {
	Attestation        string `json:"attestation,omitempty" yaml:"attestation,omitempty"`
	PlatformParameters string `json:"platform_parameters,omitempty" yaml:"platform_parameters,omitempty"`
	EventLog           string `json:"eventlog,omitempty" yaml:"eventlog,omitempty"`
	// EventLogs lists every log file when several were given.
	EventLogs []string `json:"eventlogs,omitempty" yaml:"eventlogs,omitempty"`
	Expected  string   `json:"expected,omitempty" yaml:"expected,omitempty"`
	EKCert    string   `json:"ek_cert,omitempty" yaml:"ek_cert,omitempty"`
}

type verifyBundleOutput struct {
	Verified    bool                `json:"verified" yaml:"verified"`
	Inputs      bundleInputs        `json:"inputs" yaml:"inputs"`
	Attestation bundleSummary       `json:"attestation" yaml:"attestation"`
	AK          *quote.AKSummary    `json:"ak,omitempty" yaml:"ak,omitempty"`
	EK          *tpmcert.EKSummary  `json:"ek,omitempty" yaml:"ek,omitempty"`
	Checks      []quote.Check       `json:"checks" yaml:"checks"`
	Quotes      []quote.QuoteReport `json:"quotes" yaml:"quotes"`
}

// renderBundle verifies a whole attestation and prints its report.
func renderBundle(opts *verifyQuoteOptions, v *verification, out io.Writer) error {
	path := opts.Attestation
	if path == "" {
		path = opts.PlatformParameters
	}
	b := v.bundle
	rep := v.verify().bundle
	o := verifyBundleOutput{
		Verified: rep.Verified,
		Inputs: bundleInputs{Attestation: opts.Attestation, PlatformParameters: opts.PlatformParameters,
			EventLog: first(opts.EventLog), EventLogs: several(opts.EventLog), Expected: opts.Expected, EKCert: opts.EKCert},
		Attestation: bundleSummary{Format: b.Format, Quotes: len(b.Quotes), PCRs: b.PCRs.Len(), EventLogBytes: len(b.EventLog),
			AKCert: len(b.AKCert) > 0, IntermediateCerts: len(b.IntermediateCerts), Ignored: b.Ignored},
		AK: rep.AK, EK: rep.EK, Checks: rep.Checks, Quotes: rep.Quotes,
	}
	if v.log != nil {
		o.Attestation.EventLogEvents = v.log.Events
	}
	all := append(verdict.Checks{}, rep.Checks...)
	for _, q := range rep.Quotes {
		all = append(all, q.Checks...)
	}
	if err := renderResult(out, opts.Output, opts.EARKey, quoteEAR(v, all), o, func(w io.Writer) error { return verifyBundleText(w, path, &o) }); err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return mismatch("attestation NOT verified: %d checks failed (%s)", len(failed), strings.Join(names, ", "))
	}
	return nil
}

func verifyBundleText(w io.Writer, path string, o *verifyBundleOutput) error {
	a := o.Attestation
	fmt.Fprintf(w, "attestation %s: %s, %d quotes", path, a.Format, a.Quotes)
	if a.PCRs > 0 {
		fmt.Fprintf(w, ", %d PCR values", a.PCRs)
	}
	if a.EventLogBytes > 0 {
		fmt.Fprintf(w, ", event log of %d bytes (%d events)", a.EventLogBytes, a.EventLogEvents)
	} else {
		fmt.Fprint(w, ", no event log")
	}
	fmt.Fprintln(w)
	if len(a.Ignored) > 0 {
		fmt.Fprintf(w, "  not verified by goldenpcr: %s\n", strings.Join(a.Ignored, ", "))
	}
	if ak := o.AK; ak != nil {
		fmt.Fprintf(w, "AK: %s, %s, %s, scheme %s, name %s\n", ak.Format, ak.Key, ak.Attributes, ak.Scheme, ak.Name)
	} else {
		fmt.Fprintln(w, "AK: none in the attestation")
	}
	writeEKSummary(w, o.EK)
	for _, q := range o.Quotes {
		bank := ""
		if q.Bank != "" {
			bank = " (" + q.Bank + " bank)"
		}
		fmt.Fprintf(w, "quote %d%s", q.Index, bank)
		if s := q.Quote; s != nil {
			fmt.Fprintf(w, ": %s, signature %s, extraData %s, clock %d ms", orNone(s.Selection), orNone(s.Signature), orNone(s.ExtraData), s.Clock)
		}
		fmt.Fprintln(w)
		writeQuoteChecks(w, q.Checks, "  ")
	}
	failed, skipped := writeQuoteCheckLines(w, o.Checks, "")
	var qfailed int
	for _, q := range o.Quotes {
		if !q.Verified {
			qfailed++
		}
	}
	switch {
	case failed > 0 || qfailed > 0:
		fmt.Fprintf(w, "NOT VERIFIED: %d of %d quotes and %d of %d attestation checks failed\n", qfailed, len(o.Quotes), failed, len(o.Checks))
	case skipped > 0:
		fmt.Fprintf(w, "verified: all %d quotes and every attestation check passed (%d attestation checks skipped)\n", len(o.Quotes), skipped)
	default:
		fmt.Fprintf(w, "verified: all %d quotes and every attestation check passed\n", len(o.Quotes))
	}
	return nil
}

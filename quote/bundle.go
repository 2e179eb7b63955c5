package quote

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// Bundle-level check names.
const (
	CheckQuotes      = "quotes"
	CheckPCRCoverage = "pcr-coverage"
)

// QuoteReport is the outcome of one quote of a bundle.
type QuoteReport struct {
	Index    int            `json:"index" yaml:"index"`
	Bank     string         `json:"bank,omitempty" yaml:"bank,omitempty"`
	Verified bool           `json:"verified" yaml:"verified"`
	Quote    *QuoteSummary  `json:"quote,omitempty" yaml:"quote,omitempty"`
	Checks   verdict.Checks `json:"checks" yaml:"checks"`
}

// BundleReport is the outcome of VerifyBundle.
type BundleReport struct {
	// Verified is true when no bundle-level check and no check of any
	// quote failed.
	Verified bool               `json:"verified" yaml:"verified"`
	AK       *AKSummary         `json:"ak,omitempty" yaml:"ak,omitempty"`
	EK       *tpmcert.EKSummary `json:"ek,omitempty" yaml:"ek,omitempty"`
	// Checks are the bundle-level checks (quotes present, PCR coverage,
	// EK certificate).
	Checks verdict.Checks `json:"checks" yaml:"checks"`
	Quotes []QuoteReport  `json:"quotes" yaml:"quotes"`
}

// Failed returns the failed checks, bundle-level first, each quote's
// named "quote N: check".
func (r *BundleReport) Failed() []Check {
	out := r.Checks.Failed()
	for _, q := range r.Quotes {
		for _, c := range q.Checks.Failed() {
			c.Name = fmt.Sprintf("quote %d: %s", q.Index, c.Name)
			out = append(out, c)
		}
	}
	return out
}

// VerifyBundle verifies every quote of b against p, as Verify does for a
// single quote: each with the bundle's AK, its own PCR values (for a flat
// PCR list, the values its selection names) and the replayed event log
// (nil skips the event-log check unless p requires one). The AK's checks,
// the same for every quote, are made once. It adds bundle-level checks:
// the bundle holds at least one quote, (for a flat PCR list) every listed
// PCR value is covered by a quote that authenticates it, and the EK
// certificate when there is one or p.EK asks for it.
func VerifyBundle(b *attestation.Bundle, log *eventlog.Replay, p *Policy) *BundleReport {
	if p == nil {
		p = &Policy{}
	}
	return verifyBundle(b, log, p)
}

// VerifyBundleVerdict is VerifyBundle for a caller that shows only the
// verdict and what failed, as a batch does: the same verdict and the same
// failed checks, worded the same, but passed and skipped checks carry no
// reasons or details and the report no summaries, whose wording costs
// more than the checks themselves.
func VerifyBundleVerdict(b *attestation.Bundle, log *eventlog.Replay, p *Policy) *BundleReport {
	return verifyBundle(b, log, tersePolicy(p))
}

func verifyBundle(b *attestation.Bundle, log *eventlog.Replay, p *Policy) *BundleReport {
	if b == nil {
		b = &attestation.Bundle{}
	}
	rep := &BundleReport{}
	if !p.terse {
		rep.AK = summarizeAK(b.AK)
	}
	switch {
	case len(b.Quotes) == 0:
		rep.Checks = append(rep.Checks, fail(CheckQuotes, errors.New("the attestation holds no quote, so nothing in it is authenticated")))
	case p.terse:
		rep.Checks = append(rep.Checks, pass(CheckQuotes, ""))
	default:
		var banks []string
		for _, q := range b.Quotes {
			if q.Attest != nil && q.Attest.Quote != nil {
				if sel, err := q.Attest.Quote.Selection(); err == nil {
					banks = append(banks, sel.String())
				}
			}
		}
		rep.Checks = append(rep.Checks, pass(CheckQuotes, fmt.Sprintf("%d quotes: %s", len(b.Quotes), strings.Join(banks, ", "))))
	}
	akChecks, cert := checkAK(&Evidence{AK: b.AK, AKCert: b.AKCertificate, AKIntermediates: b.Intermediates}, p)
	covered := pcr.Values{}
	for i, q := range b.Quotes {
		ev := &Evidence{Attest: q.Attest, Signature: q.Signature, AK: b.AK, PCRs: q.PCRs, EventLog: log}
		var sel pcr.Selection
		var selErr error = errors.New("not a quote")
		if q.Attest != nil && q.Attest.Quote != nil {
			sel, selErr = q.Attest.Quote.Selection()
		}
		if ev.PCRs == nil && b.PCRs != nil {
			ev.PCRs = b.PCRs
			if selErr == nil {
				ev.PCRs = sel.Filter(b.PCRs)
			}
		}
		var r *Report
		if q.Attest == nil {
			r = Verify(nil, nil) // "no TPMS_ATTEST given"
		} else {
			r = verifyQuote(ev, p, akChecks)
		}
		qr := QuoteReport{Index: i + 1, Verified: r.Verified, Quote: r.Quote, Checks: r.Checks}
		if q.Bank != 0 {
			qr.Bank = q.Bank.String()
		} else if selErr == nil && len(sel) == 1 {
			qr.Bank = sel[0].Alg.String()
		}
		rep.Quotes = append(rep.Quotes, qr)
		if b.PCRs != nil && r.Check(CheckSignature).Passed && r.Check(CheckPCRDigest).Passed && selErr == nil {
			for _, ref := range refs(sel) {
				if v, ok := ev.PCRs.Get(ref.Bank, ref.PCR); ok {
					covered.Set(ref.Bank, ref.PCR, v)
				}
			}
		}
	}
	if b.PCRs == nil {
		rep.Checks = append(rep.Checks, skip(CheckPCRCoverage, "each quote carries its own PCR values"))
	} else {
		var unc []PCRRef
		for _, bank := range b.PCRs.Algs() {
			for _, i := range b.PCRs.Indices(bank) {
				if _, ok := covered.Get(bank, i); !ok {
					unc = append(unc, PCRRef{Bank: bank, PCR: i})
				}
			}
		}
		sort.Slice(unc, func(i, j int) bool {
			if unc[i].Bank != unc[j].Bank {
				return unc[i].Bank < unc[j].Bank
			}
			return unc[i].PCR < unc[j].PCR
		})
		switch {
		case len(unc) > 0:
			rep.Checks = append(rep.Checks, fail(CheckPCRCoverage, &SelectionError{Reason: fmt.Sprintf(
				"%d of the %d listed PCR values are not authenticated by a verified quote: %s", len(unc), b.PCRs.Len(), refList(unc))}))
		case b.PCRs.Len() == 0:
			rep.Checks = append(rep.Checks, fail(CheckPCRCoverage, &SelectionError{Reason: "the PCR list is empty"}))
		case p.terse:
			rep.Checks = append(rep.Checks, pass(CheckPCRCoverage, ""))
		default:
			rep.Checks = append(rep.Checks, pass(CheckPCRCoverage, fmt.Sprintf("all %d listed PCR values are covered by a verified quote", b.PCRs.Len())))
		}
	}
	if cert != nil {
		rep.Checks = append(rep.Checks, *cert)
	}
	if b.EKCert != nil || p.EK != nil {
		var checks []Check
		rep.EK, checks = verifyEKEvidence(b.EKCert, p)
		rep.Checks = append(rep.Checks, checks...)
	}
	rep.Verified = len(rep.Failed()) == 0
	return rep
}

package refvals

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Predict forecasts the next boot of a machine: the PCRs the artifacts
// determine are computed from them (as Compute does), and every other PCR
// the machine's reference log touches — firmware code and configuration,
// option ROMs — keeps the events and value that log recorded. This is the
// prediction pcr-oracle and systemd-pcrlock make, from files alone.
func Predict(reference io.Reader, in Inputs) (*baseline.Baseline, error) {
	rd, err := eventlog.NewReader(reference)
	if err != nil {
		return nil, fmt.Errorf("reference log: %w", err)
	}
	banks := in.Banks
	if len(banks) == 0 {
		banks = rd.Banks()
	}
	for _, a := range banks {
		if !slices.Contains(rd.Banks(), a) {
			return nil, &eventlog.BankNotInLogError{Alg: a, Have: rd.Banks()}
		}
	}
	in.Banks = banks
	computed, err := Compute(in)
	if err != nil {
		return nil, err
	}
	// PCR 5 holds the boot disk's GPT, which only a given disk image can
	// predict; otherwise it is firmware data taken from the log.
	if in.Disk == "" {
		computed.PCRs = slices.DeleteFunc(computed.PCRs, func(p baseline.PCR) bool { return p.Index == PCRBootManagerData })
	}
	predicted := map[int]bool{}
	for _, p := range computed.PCRs {
		predicted[p.Index] = true
	}
	kept, err := logPCRs(rd, banks, func(i int) bool { return !predicted[i] }, baseline.Provenance{})
	if err != nil {
		return nil, err
	}
	out := computed
	for _, p := range kept {
		out.PCRs = append(out.PCRs, *p)
	}
	slices.SortFunc(out.PCRs, func(x, y baseline.PCR) int { return x.Index - y.Index })
	out.Metadata.Notes = append(out.Metadata.Notes, fmt.Sprintf("PCRs %s taken from the reference log; the others computed from the artifacts", pcrList(kept)))
	return out, nil
}

func pcrList(m map[int]*baseline.PCR) string {
	var idx []int
	for i := range m {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return pcr.FormatPCRList(idx)
}

// logPCRs replays a reference log in the banks and returns, for each PCR
// take accepts, the events the log extended into it and the value they
// leave. Each event's provenance is from, with its rule naming the event.
func logPCRs(rd *eventlog.Reader, banks []pcr.Alg, take func(int) bool, from baseline.Provenance) (map[int]*baseline.PCR, error) {
	rp, err := eventlog.NewReplayer(banks, true)
	if err != nil {
		return nil, err
	}
	kept := map[int]*baseline.PCR{}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reference log: %w", err)
		}
		if err := rp.Extend(ev); err != nil {
			return nil, fmt.Errorf("reference log: %w", err)
		}
		i := int(ev.PCR)
		if ev.Type == eventlog.EvNoAction || !take(i) {
			continue
		}
		p := kept[i]
		if p == nil {
			p = &baseline.PCR{Index: i, Values: map[string]string{}}
			kept[i] = p
		}
		prov := from
		prov.Rule = fmt.Sprintf("recorded in the reference log (event %d)", ev.Index)
		e := baseline.Event{Type: ev.Type.String(), Digests: map[string]string{}, Data: hex.EncodeToString(ev.Data), Provenance: prov}
		if payload, err := eventlog.Decode(ev); err == nil {
			e.Description = payload.Summary()
		}
		for _, a := range banks {
			d, _ := ev.Digest(a)
			e.Digests[a.String()] = hex.EncodeToString(d)
		}
		p.Events = append(p.Events, e)
	}
	res := rp.Result()
	for i, p := range kept {
		for _, a := range banks {
			v, _ := res.Values.Get(a, i)
			p.Values[a.String()] = hex.EncodeToString(v)
		}
	}
	return kept, nil
}

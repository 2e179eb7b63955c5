package eventlog

import (
	"bytes"
	"fmt"
	"hash"
	"io"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Replay is the outcome of extending every measured event of a log.
type Replay struct {
	Format Format
	// Banks are the replayed banks, in the order requested or logged.
	Banks []pcr.Alg
	// Values holds all 24 PCRs of each replayed bank; PCRs no event touched
	// keep their power-on value.
	Values pcr.Values
	// LastEvent is the index of the last event extended into each PCR, or
	// -1 if none was.
	LastEvent [pcr.NumPCRs]int
	// Extends counts the events extended into each PCR.
	Extends [pcr.NumPCRs]int
	// Locality is the startup locality from a StartupLocality event.
	Locality byte
	// Events counts the events read, the header included.
	Events int
}

// Touched reports whether any event was extended into PCR index.
func (r *Replay) Touched(index int) bool { return r.LastEvent[index] >= 0 }

// BankNotInLogError reports a requested bank the log carries no digests for.
type BankNotInLogError struct {
	Alg  pcr.Alg
	Have []pcr.Alg
}

func (e *BankNotInLogError) Error() string {
	return fmt.Sprintf("the log has no %s digests (banks in log: %v)", e.Alg, e.Have)
}

type bankState struct {
	alg  pcr.Alg
	h    hash.Hash
	size int
	vals [pcr.NumPCRs][64]byte
	set  uint32 // PCRs extended at least once
}

// Replayer extends events one at a time; ReplayLog drives it over a log.
type Replayer struct {
	banks    []*bankState
	locality byte
	res      Replay
}

// NewReplayer prepares replay of the given banks. Each must be a bank the
// log carries and goldenpcr can hash.
func NewReplayer(banks []pcr.Alg) (*Replayer, error) {
	rp := &Replayer{}
	for _, a := range banks {
		if !a.Valid() {
			return nil, &pcr.UnsupportedAlgError{ID: uint16(a)}
		}
		rp.banks = append(rp.banks, &bankState{alg: a, h: a.New(), size: a.Size()})
		rp.res.Banks = append(rp.res.Banks, a)
	}
	for i := range rp.res.LastEvent {
		rp.res.LastEvent[i] = -1
	}
	return rp, nil
}

// Extend applies one event: EV_NO_ACTION events are never extended, but a
// StartupLocality one sets PCR 0's starting value.
func (rp *Replayer) Extend(ev *Event) error {
	rp.res.Events++
	if ev.Type == EvNoAction {
		if loc, ok := startupLocality(ev); ok {
			rp.locality = loc
		}
		return nil
	}
	i := ev.PCR
	for _, b := range rp.banks {
		d, ok := ev.Digest(b.alg)
		if !ok {
			return &ParseError{Index: ev.Index, Offset: ev.Offset, Msg: fmt.Sprintf("event has no %s digest", b.alg)}
		}
		cur := b.vals[i][:b.size]
		if b.set&(1<<i) == 0 {
			copy(cur, pcr.InitialValue(b.alg, int(i), rp.localityFor(int(i))))
			b.set |= 1 << i
		}
		b.h.Reset()
		b.h.Write(cur)
		b.h.Write(d)
		b.h.Sum(cur[:0])
	}
	rp.res.LastEvent[i] = ev.Index
	rp.res.Extends[i]++
	return nil
}

func (rp *Replayer) localityFor(index int) byte {
	if index == 0 {
		return rp.locality
	}
	return 0
}

// Result returns the replayed values; untouched PCRs get power-on values.
func (rp *Replayer) Result() *Replay {
	res := rp.res
	res.Locality = rp.locality
	res.Values = pcr.Values{}
	for _, b := range rp.banks {
		for i := 0; i < pcr.NumPCRs; i++ {
			if b.set&(1<<i) != 0 {
				res.Values.Set(b.alg, i, bytes.Clone(b.vals[i][:b.size]))
			} else {
				res.Values.Set(b.alg, i, pcr.InitialValue(b.alg, i, rp.localityFor(i)))
			}
		}
	}
	return &res
}

var startupLocalitySig = []byte("StartupLocality\x00")

func startupLocality(ev *Event) (byte, bool) {
	if ev.PCR == 0 && len(ev.Data) == len(startupLocalitySig)+1 && bytes.HasPrefix(ev.Data, startupLocalitySig) {
		return ev.Data[len(startupLocalitySig)], true
	}
	return 0, false
}

// ReplayLog reads a whole log and replays the requested banks; with no
// banks given it replays every bank the log carries that goldenpcr can hash.
func ReplayLog(r io.Reader, banks ...pcr.Alg) (*Replay, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	banks, err = selectBanks(rd.Banks(), banks)
	if err != nil {
		return nil, err
	}
	rp, err := NewReplayer(banks)
	if err != nil {
		return nil, err
	}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := rp.Extend(ev); err != nil {
			return nil, err
		}
	}
	res := rp.Result()
	res.Format = rd.Format()
	return res, nil
}

// selectBanks checks requested banks against the log's, or picks every
// hashable bank of the log when none are requested.
func selectBanks(inLog, requested []pcr.Alg) ([]pcr.Alg, error) {
	if len(requested) == 0 {
		for _, a := range inLog {
			if a.Valid() {
				requested = append(requested, a)
			}
		}
		return requested, nil
	}
	for _, a := range requested {
		found := false
		for _, b := range inLog {
			found = found || a == b
		}
		if !found {
			return nil, &BankNotInLogError{Alg: a, Have: inLog}
		}
	}
	return requested, nil
}

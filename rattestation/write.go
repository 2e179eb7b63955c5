package rattestation

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// DefaultName is the name a config gets when Options gives none.
const DefaultName = "goldenpcr"

// Options say what Write makes of golden values.
type Options struct {
	// Name is the config's free-text name (DefaultName when empty).
	Name string
	// AType is BASIC (PCRs 0-11, the zero value) or ADVANCED (PCRs).
	AType AType
	// PCRs are the PCRs ADVANCED quotes (0-23); empty for BASIC.
	PCRs []int
	// KmodCert is the certificate that signs kernel modules and IMA
	// signatures, PEM or DER.
	KmodCert []byte
	// NoIMA is for a device without IMA: verify_ima false, and PCR 10,
	// when the golden values leave it out, the zero it keeps.
	NoIMA bool
	// NoContainers is for a device without containers: verify_containers
	// false, and PCR 11, when the golden values leave it out, zero.
	NoContainers bool
}

// NewConfig makes the config of golden values ref for the device Options
// describe. It refuses (typed errors naming the field or PCR, never how
// the caller spells its options) golden values rattestation could not
// check as meant: atype ALL, a quoted PCR without a SHA-256 value
// (*MissingPCRError, *BankError), a PCR with variants (*VariantsError),
// a PCR 10 or 11 value a device with IMA or containers cannot reach
// (*UnreachableError), IMA or container verification of a PCR the atype
// does not quote (*NotQuotedError), and a kmod certificate that is no
// X.509 certificate. PCRs ref names that the atype does not quote are
// left out.
func NewConfig(ref *baseline.Reference, opts Options) (*Config, error) {
	c := &Config{
		Name: opts.Name, AType: opts.AType, PCRs: slices.Clone(opts.PCRs),
		VerifyIMA: !opts.NoIMA, VerifyContainers: !opts.NoContainers,
		IMAPCR: IMAPCR, ContainerPCR: ContainerPCR,
		Values: map[int][]byte{},
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	slices.Sort(c.PCRs)
	c.PCRs = slices.Compact(c.PCRs)
	if err := c.checkAType(); err != nil {
		return nil, err
	}
	b, err := ref.AsBaseline()
	if err != nil {
		return nil, err
	}
	byIndex := map[int]baseline.PCR{}
	for _, p := range b.PCRs {
		byIndex[p.Index] = p
	}
	var missing []int
	for _, i := range c.Quoted() {
		p, ok := byIndex[i]
		if !ok {
			switch {
			case i == IMAPCR && opts.NoIMA, i == ContainerPCR && opts.NoContainers:
				c.Values[i] = make([]byte, valueSize)
			default:
				missing = append(missing, i)
			}
			continue
		}
		v, err := sha256Value(p)
		if err != nil {
			return nil, err
		}
		c.Values[i] = v
	}
	if len(missing) > 0 {
		return nil, &MissingPCRError{PCRs: missing, AType: c.AType}
	}
	cert, err := CertificatePEM(opts.KmodCert)
	if err != nil {
		return nil, err
	}
	c.KmodCert = cert
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// sha256Value is the one SHA-256 value a baseline PCR allows.
func sha256Value(p baseline.PCR) ([]byte, error) {
	want, ok := p.Values["sha256"]
	if !ok {
		return nil, &BankError{PCR: p.Index, Banks: slices.Sorted(maps.Keys(p.Values))}
	}
	for _, v := range p.Variants {
		if !strings.EqualFold(v["sha256"], want) {
			return nil, &VariantsError{PCR: p.Index, Candidates: len(p.Variants) + 1}
		}
	}
	d, err := hex.DecodeString(want)
	if err != nil || len(d) != valueSize {
		return nil, fieldErr("pcr_values", "PCR %d: SHA-256 value %q is not %d bytes of hex", p.Index, want, valueSize)
	}
	return d, nil
}

// Write is NewConfig and Marshal: the config bytes of golden values ref.
// What it writes is read back with Parse and must give the same config,
// so the bytes are known to follow the reader's rules.
func Write(ref *baseline.Reference, opts Options) ([]byte, error) {
	c, err := NewConfig(ref, opts)
	if err != nil {
		return nil, err
	}
	out, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	back, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("rattestation: the config written does not read back: %w", err)
	}
	again, err := back.Marshal()
	if err != nil || !bytes.Equal(again, out) {
		return nil, fmt.Errorf("rattestation: the config written reads back as another config (%v)", err)
	}
	return out, nil
}

// Baseline is the config's PCR values as a baseline document (final
// SHA-256 values only), which every goldenpcr comparison reads.
func (c *Config) Baseline() *baseline.Baseline {
	b := &baseline.Baseline{
		Version: baseline.SchemaVersion,
		Metadata: baseline.Metadata{Tool: "goldenpcr", Notes: []string{
			fmt.Sprintf("final values only, read from rattestation.conf %q: atype %s, PCRs %s, verify_ima %t, verify_containers %t",
				c.Name, c.AType, pcr.FormatPCRList(c.Quoted()), c.VerifyIMA, c.VerifyContainers),
		}},
	}
	b.Metadata.Notes = append(b.Metadata.Notes, c.Warnings...)
	for _, i := range slices.Sorted(maps.Keys(c.Values)) {
		b.PCRs = append(b.PCRs, baseline.PCR{Index: i, Values: map[string]string{"sha256": hex.EncodeToString(c.Values[i])}})
	}
	return b
}

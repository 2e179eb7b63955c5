package main

import (
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// armCorimOptions are corim create's options for the Arm schemes.
type armCorimOptions struct {
	ImplID         string
	InstID         string
	IAK            string
	CPAK           string
	Components     []string
	PlatformConfig string
	RIM            string
	REMs           [4]string
	RPV            string
}

// armSchemes are the --scheme names of the Arm CoRIMs.
var armSchemes = map[string]corim.Scheme{"psa": corim.PSAIoT, "cca-platform": corim.CCAPlatform, "cca-realm": corim.CCARealm}

func addArmCorimFlags(f *pflag.FlagSet, o *armCorimOptions) {
	f.StringVar(&o.ImplID, "impl-id", "", "psa, cca-platform: the 32-byte implementation id, base64 or hex (required)")
	f.StringVar(&o.InstID, "inst-id", "", "psa, cca-platform: the 33-byte instance id (UEID, 01 then 32 bytes), base64 or hex (required)")
	f.StringVar(&o.IAK, "iak", "", "psa: the initial attestation key (PEM, DER or X.509 certificate) (required)")
	f.StringVar(&o.CPAK, "cpak", "", "cca-platform: the CCA platform attestation key (PEM, DER or X.509 certificate) (required)")
	f.StringArrayVar(&o.Components, "component", nil, "psa, cca-platform: a software component, type=T,value=sha-256:B64,signer-id=B64[,version=V] (repeatable; values base64 or hex; no version for cca-platform)")
	f.StringVar(&o.PlatformConfig, "platform-config", "", "cca-platform: the platform configuration the token reports, base64 or hex (required)")
	f.StringVar(&o.RIM, "rim", "", "cca-realm: the realm initial measurement, 32, 48 or 64 bytes, base64 or hex (required)")
	for i := range o.REMs {
		f.StringVar(&o.REMs[i], fmt.Sprintf("rem%d", i), "", fmt.Sprintf("cca-realm: the value of REM%d the realm must end with, the RIM's size (default: not constrained)", i))
	}
	f.StringVar(&o.RPV, "rpv", "", "cca-realm: the 64-byte realm personalization value, base64 or hex (default: not constrained)")
}

// given lists the Arm options that are set.
func (o *armCorimOptions) given() []string {
	var out []string
	for name, v := range map[string]bool{
		"--impl-id": o.ImplID != "", "--inst-id": o.InstID != "", "--iak": o.IAK != "", "--cpak": o.CPAK != "",
		"--component": len(o.Components) > 0, "--platform-config": o.PlatformConfig != "", "--rim": o.RIM != "", "--rpv": o.RPV != "",
		"--rem0": o.REMs[0] != "", "--rem1": o.REMs[1] != "", "--rem2": o.REMs[2] != "", "--rem3": o.REMs[3] != "",
	} {
		if v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// refuseOptions fails when an option of names is given: they belong to
// another scheme.
func refuseOptions(given []string, scheme string, names ...string) error {
	var bad []string
	for _, n := range names {
		if slices.Contains(given, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: not an option of --scheme %s", strings.Join(bad, ", "), scheme)
	}
	return nil
}

func runCorimCreateArm(opts *corimCreateOptions, scheme corim.Scheme, out io.Writer) error {
	a := &opts.Arm
	var tpm []string
	for name, v := range map[string]string{"--baseline": opts.Baseline, "--ak": opts.AK, "--class-id": opts.ClassID,
		"--key-id": opts.KeyID, "--node-id": opts.NodeID, "--pcrs": opts.PCRs} {
		if v != "" {
			tpm = append(tpm, name)
		}
	}
	given := append(a.given(), tpm...)
	if opts.OutFile == "" {
		return fmt.Errorf("-O: required: a CoRIM is binary CBOR (-O - writes it to stdout)")
	}
	copts, err := corimOptions(opts)
	if err != nil {
		return err
	}
	tpmOnly := []string{"--baseline", "--ak", "--class-id", "--key-id", "--node-id", "--pcrs"}
	var res *corim.Result
	inputs := []string{}
	switch scheme {
	case corim.PSAIoT, corim.CCAPlatform:
		keyFlag, keyPath, other := "--iak", a.IAK, "--cpak"
		if scheme == corim.CCAPlatform {
			keyFlag, keyPath, other = "--cpak", a.CPAK, "--iak"
		}
		refused := append(slices.Clone(tpmOnly), other, "--rim", "--rem0", "--rem1", "--rem2", "--rem3", "--rpv")
		if scheme == corim.PSAIoT {
			refused = append(refused, "--platform-config")
		}
		if err := refuseOptions(given, opts.Scheme, refused...); err != nil {
			return err
		}
		impl, err := bytesFlag("--impl-id", a.ImplID, corim.ImplIDSize)
		if err != nil {
			return err
		}
		inst, err := bytesFlag("--inst-id", a.InstID, corim.InstIDSize)
		if err != nil {
			return err
		}
		if keyPath == "" {
			return fmt.Errorf("%s: required", keyFlag)
		}
		key, err := readPublicKey(keyFlag, keyPath)
		if err != nil {
			return err
		}
		inputs = append(inputs, keyPath)
		if len(a.Components) == 0 {
			return fmt.Errorf("--component: required, at least one (type=T,value=sha-256:B64,signer-id=B64)")
		}
		var comps []corim.SwComponent
		for _, s := range a.Components {
			c, err := parseComponent(s)
			if err != nil {
				return err
			}
			comps = append(comps, c)
		}
		if scheme == corim.PSAIoT {
			res, err = corim.NewPSA(corim.PSAInput{ImplID: impl, InstID: inst, IAK: key, Components: comps}, copts)
		} else {
			cfg, cerr := bytesFlag("--platform-config", a.PlatformConfig)
			if cerr != nil {
				return cerr
			}
			res, err = corim.NewCCAPlatform(corim.CCAPlatformInput{ImplID: impl, InstID: inst, CPAK: key, Components: comps, Config: cfg}, copts)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Scheme, err)
		}
	case corim.CCARealm:
		refused := append(slices.Clone(tpmOnly), "--impl-id", "--inst-id", "--iak", "--cpak", "--component", "--platform-config")
		if err := refuseOptions(given, opts.Scheme, refused...); err != nil {
			return err
		}
		var in corim.CCARealmInput
		if in.RIM, err = bytesFlag("--rim", a.RIM, 32, 48, 64); err != nil {
			return err
		}
		for i, v := range a.REMs {
			if v == "" {
				continue
			}
			if in.REMs[i], err = bytesFlag(fmt.Sprintf("--rem%d", i), v, len(in.RIM)); err != nil {
				return err
			}
		}
		if a.RPV != "" {
			if in.RPV, err = bytesFlag("--rpv", a.RPV, 64); err != nil {
				return err
			}
		}
		if res, err = corim.NewCCARealm(in, copts); err != nil {
			return fmt.Errorf("%s: %w", opts.Scheme, err)
		}
	}
	return writeCorim(opts, res, inputs, out)
}

// readPublicKey reads a public key: PEM, DER, an X.509 certificate (or a
// TPM2B_PUBLIC, which the Arm keys never are).
func readPublicKey(flag, path string) (crypto.PublicKey, error) {
	data, err := readSmall(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	k, err := tpmstruct.ParsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return k.Key, nil
}

// parseComponent reads type=T,value=ALG:B64,signer-id=B64[,version=V].
func parseComponent(s string) (corim.SwComponent, error) {
	var c corim.SwComponent
	seen := map[string]bool{}
	bad := func(format string, args ...any) (corim.SwComponent, error) {
		return corim.SwComponent{}, fmt.Errorf("--component %q: %s", s, fmt.Sprintf(format, args...))
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || v == "" {
			return bad("%q is not key=value", part)
		}
		if seen[k] {
			return bad("%s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "type":
			c.Type = v
		case "version":
			c.Version = v
		case "value":
			alg, val, ok := strings.Cut(v, ":")
			if !ok {
				return bad("value %q: want ALG:DIGEST, e.g. sha-256:tNHB5Ppz…", v)
			}
			c.Alg = strings.ToLower(alg)
			if c.Value, err = bytesFlag("value", val); err != nil {
				return bad("%v", err)
			}
		case "signer-id":
			if c.SignerID, err = bytesFlag("signer-id", v, 32, 48, 64); err != nil {
				return bad("%v", err)
			}
		default:
			return bad("unknown key %q (want type, value, signer-id, version)", k)
		}
	}
	switch {
	case c.Value == nil:
		return bad("value=ALG:DIGEST is required")
	case c.SignerID == nil:
		return bad("signer-id= is required")
	}
	return c, nil
}

// bytesFlag decodes an option's bytes, given as hex or base64 (standard or
// URL-safe, padded or not): hex when it decodes to one of sizes (any size
// when none are given), else base64.
func bytesFlag(flag, v string, sizes ...int) ([]byte, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return nil, fmt.Errorf("%s: required", flag)
	}
	fits := func(b []byte) bool { return len(b) > 0 && (len(sizes) == 0 || slices.Contains(sizes, len(b))) }
	if b, err := hex.DecodeString(strings.TrimPrefix(s, "0x")); err == nil && fits(b) {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if !fits(b) {
				return nil, fmt.Errorf("%s %q: %d bytes, want %s", flag, v, len(b), sizesText(sizes))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s %q: neither hex nor base64", flag, v)
}

func sizesText(sizes []int) string {
	var s []string
	for _, n := range sizes {
		s = append(s, fmt.Sprint(n))
	}
	return orList(s)
}

// writeArmMeasurement prints what an Arm measurement carries besides its
// digests.
func writeArmMeasurement(w io.Writer, name string, m corim.Measurement) {
	var parts []string
	if m.Name != "" {
		parts = append(parts, "type "+m.Name)
	}
	if m.SignerID != "" {
		parts = append(parts, "signer-id "+m.SignerID)
	}
	if m.Version != "" {
		parts = append(parts, "version "+m.Version)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "      %-20s %s\n", "", strings.Join(parts, ", "))
	}
	for _, r := range m.Registers {
		for _, dg := range r.Digests {
			fmt.Fprintf(w, "      %-20s %s %s\n", "register "+r.Index, dg.Alg, dg.Value)
		}
	}
	if m.RawValue != "" {
		fmt.Fprintf(w, "      %-20s raw-value %s", name, m.RawValue)
		if m.RawValueMask != "" {
			fmt.Fprintf(w, " mask %s", m.RawValueMask)
		}
		fmt.Fprintln(w)
	}
}

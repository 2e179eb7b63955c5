package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/ima"
)

type imaCheckOptions struct {
	List              string
	Policies          []string
	Keys              []string
	RequireSignatures bool
	Replay            imaReplayFlags
	ListFlags         imaListFlags
	Output            string
}

func newIMACheckCmd() *cobra.Command {
	opts := &imaCheckOptions{}
	c := &cobra.Command{
		Use:   "check LIST (--policy FILE | --keys CERT)",
		Short: "Check every IMA entry against an allowlist or keylime runtime policy and signing keys",
		Long: `Check every file an IMA list measured, the way keylime's verifier does:

  - a file whose signature (ima-sig, ima-sigv2, ima-modsig sig field)
    verifies with one of the --keys is accepted;
  - otherwise its digest must be one --policy lists for its path: a keylime
    runtime policy (JSON: digests, excludes, keyrings, ima-buf) or a
    checksum list in sha256sum format ("HEX  /path", as 'goldenpcr ima
    policy' or sha256sum writes it); paths an exclude regex matches are
    skipped;
  - keys measured onto a keyring (ima-buf) must have a digest the policy's
    "keyrings" allows, and then verify later signatures too;
  - with --require-signatures every file needs a valid signature.

Keys are X.509 certificates or public keys (PEM or DER), RSA or ECDSA,
found by the signature's key id: the last 4 bytes of the certificate's
subject key identifier (the kernel's rule) or of the SHA-1 of the public key
(evmctl's).

Findings are reported as unknown-file, wrong-digest, unsigned and
bad-signature with the entry index and offset (or line). With --pcrs and
--tcg-log the list is also replayed and checked as 'goldenpcr ima replay'
does, so one command checks the list is genuine and its content allowed.

With --pcrs or --tcg-log the boot_aggregate is checked too, and fails when
it cannot be (--no-boot-aggregate opts out), as 'goldenpcr ima replay'
explains. A ✗ or a - that was asked for exits 1, in every output format.

Exit codes: 0 = every entry passed (and the replay matched), 1 = a finding
(or a replay mismatch, or a replay check that could not run), 2 = bad usage
or a malformed list, policy or key.`,
		Example: `  goldenpcr ima check binary_runtime_measurements --policy runtime-policy.json
  goldenpcr ima check binary_runtime_measurements --policy rootfs.sha256sum --keys ima-signing.crt \
      --pcrs pcrs.yaml --tcg-log binary_bios_measurements`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.List = args[0]
			return runIMACheck(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringArrayVar(&opts.Policies, "policy", nil, "keylime runtime policy (JSON) or sha256sum-style list (repeatable; merged)")
	c.Flags().StringArrayVar(&opts.Keys, "keys", nil, "X.509 certificate or public key file that signs IMA signatures (repeatable)")
	c.Flags().BoolVar(&opts.RequireSignatures, "require-signatures", false, "every file entry must carry a signature that verifies")
	opts.Replay.register(c)
	opts.ListFlags.register(c)
	outputFlag(c, &opts.Output)
	return c
}

type imaCheckReport struct {
	*imaReplayReport `yaml:",inline"`
	Policies         []string          `json:"policies" yaml:"policies"`
	Keys             int               `json:"keys" yaml:"keys"`
	Policy           *ima.PolicyReport `json:"policy" yaml:"policy"`
}

// loadPolicy reads and merges policy files.
func loadPolicy(paths []string) (*ima.Policy, error) {
	var merged *ima.Policy
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pol, err := ima.ParsePolicy(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if merged == nil {
			merged = pol
		} else if err := merged.Merge(pol); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return merged, nil
}

func loadKeys(paths []string) (*ima.Keyring, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	kr := &ima.Keyring{}
	for _, p := range paths {
		if err := kr.LoadKeyFile(p); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

func runIMACheck(opts *imaCheckOptions, out io.Writer) error {
	if len(opts.Policies) == 0 && len(opts.Keys) == 0 {
		return fmt.Errorf("nothing to check against: give --policy, --keys or both")
	}
	pol, err := loadPolicy(opts.Policies)
	if err != nil {
		return err
	}
	keys, err := loadKeys(opts.Keys)
	if err != nil {
		return err
	}
	checker := &ima.Checker{Policy: pol, Keys: keys, RequireSignatures: opts.RequireSignatures}
	rep, err := imaReplayCore(opts.List, &opts.ListFlags, &opts.Replay,
		func(e *ima.Entry) error {
			checker.Check(e)
			return nil
		})
	if err != nil {
		return err
	}
	nkeys := 0
	if keys != nil {
		nkeys = len(keys.Keys)
	}
	cr := &imaCheckReport{imaReplayReport: rep, Policies: opts.Policies, Keys: nkeys, Policy: checker.Report()}
	if cr.Policies == nil {
		cr.Policies = []string{}
	}
	rep.verdict.Add(ima.PolicyCheck(cr.Policy))
	rep.finish()
	if err := render(out, opts.Output, cr, func(w io.Writer) error { return imaCheckText(w, cr, opts.Replay.given()) }); err != nil {
		return err
	}
	return rep.exit()
}

func imaCheckText(w io.Writer, cr *imaCheckReport, withReplay bool) error {
	if withReplay {
		if err := imaReplayText(w, cr.imaReplayReport); err != nil {
			return err
		}
	} else {
		desc := cr.Format + " list"
		if cr.ByteOrder != "" {
			desc += ", " + cr.ByteOrder
		}
		fmt.Fprintf(w, "%s: %s, %d entries\n", cr.File, desc, cr.Entries)
		for _, d := range cr.DigestIssues {
			fmt.Fprintf(w, "✗ %s (%s): template digest %s, data hashes to %s\n", d.EntryRef, d.Path, d.Listed, d.Computed)
		}
	}
	p := cr.Policy
	fmt.Fprintf(w, "policy: %d entries: %d allowlisted, %d signed, %d excluded, %d violations, %d keys loaded, %d failed\n",
		p.Entries, p.Allowlisted, p.Signed, p.Excluded, p.Violations, p.KeysLoaded, p.Failed)
	for _, f := range p.Findings {
		fmt.Fprintf(w, "✗ %s: %s %s (%s)", f.Kind, f.EntryRef, f.Path, f.Template)
		if f.Digest != "" {
			fmt.Fprintf(w, " %s", f.Digest)
		}
		if len(f.Expected) > 0 {
			fmt.Fprintf(w, ", policy allows %s", strings.Join(f.Expected, ", "))
		}
		if f.Detail != "" {
			fmt.Fprintf(w, ": %s", f.Detail)
		}
		fmt.Fprintln(w)
	}
	if p.MoreFindings > 0 {
		fmt.Fprintf(w, "  … and %d more\n", p.MoreFindings)
	}
	switch {
	case cr.Verified:
		fmt.Fprintln(w, "all entries pass")
	case p.OK():
		fmt.Fprintln(w, "all entries pass the policy, but the list is not verified: "+strings.Join(cr.Problems, "; "))
	}
	return nil
}

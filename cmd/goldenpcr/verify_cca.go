package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/armattest"
	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/ear"
)

type verifyCCAOptions struct {
	Token      string
	RATLSCert  string
	Corim      string
	RealmCorim string
	Nonce      string
	Output     string
	EARKey     string
}

func newVerifyCCACmd() *cobra.Command {
	opts := &verifyCCAOptions{}
	c := &cobra.Command{
		Use:   "cca TOKEN|--ratls-cert CERT.pem --corim PLATFORM.corim [--realm-corim REALM.corim] --nonce NONCE",
		Short: "Verify an Arm CCA token, or an Islet RA-TLS certificate, against ARM_CCA CoRIMs",
		Long: `Verify an Arm CCA attestation token (the collection, CBOR tag 399, of a
platform token and a realm token; binary or hex text) against the ARM_CCA
platform CoRIM (goldenpcr corim create --scheme cca-platform) and, with
--realm-corim, the realm CoRIM (--scheme cca-realm), and print every check:

  platform-claims, realm-claims  each token's claims are valid
  implementation-id   the platform CoRIM names the implementation id
  trust-anchor        the platform CoRIM has a CPAK for the instance id
  platform-signature  the platform token verifies with that CPAK
  realm-signature     the realm token verifies with the RAK it carries
  binding             the platform challenge is the hash of the RAK
  realm-challenge     the realm challenge is --nonce (64 bytes), or for
                      --ratls-cert SHA-512(nonce ‖ the certificate's DER
                      SubjectPublicKeyInfo)
  software-component  each platform component is a reference value, with its
                      signer id
  platform-config     the platform configuration is the reference's
  security-lifecycle  the platform is in the secured state
  realm-rim, realm-rem0..3, realm-personalization-value
                      with --realm-corim: the realm's measurements are the
                      reference's (those the CoRIM leaves out are not compared);
                      without it the realm's measurements are not checked and
                      the report says so

--ratls-cert takes an Islet RA-TLS certificate (PEM or DER) instead of TOKEN:
the token is read from its extension 1.3.3.3.7, and the certificate must be
valid now and, when self-signed, verify with its own key.

Exit codes: 0 = verified, 1 = a check failed, 2 = an input that does not read.`,
		Example: `  goldenpcr verify cca token.cbor --corim platform.corim --realm-corim realm.corim --nonce HEX
  goldenpcr verify cca --ratls-cert client.pem --corim platform.corim \
      --realm-corim realm.corim --nonce HEX`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Token = args[0]
			}
			return runVerifyCCA(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.RATLSCert, "ratls-cert", "", "an Islet RA-TLS certificate carrying the token (instead of TOKEN)")
	f.StringVar(&opts.Corim, "corim", "", "the ARM_CCA platform CoRIM: CPAK and platform reference values (required)")
	f.StringVar(&opts.RealmCorim, "realm-corim", "", "the ARM_CCA realm CoRIM: the realm's RIM, REMs and personalization value")
	f.StringVar(&opts.Nonce, "nonce", "", "the session's nonce (the realm challenge, or with --ratls-cert what it is hashed with), hex or base64 (required)")
	verdictOutputFlags(c, &opts.Output, &opts.EARKey)
	return c
}

func runVerifyCCA(opts *verifyCCAOptions, out io.Writer) error {
	switch {
	case opts.Token == "" && opts.RATLSCert == "":
		return fmt.Errorf("give a TOKEN file or --ratls-cert")
	case opts.Token != "" && opts.RATLSCert != "":
		return fmt.Errorf("a TOKEN file and --ratls-cert: give one")
	}
	nonce, err := bytesFlag("--nonce", opts.Nonce)
	if err != nil {
		return err
	}
	p := armattest.CCAPolicy{}
	if p.Platform, err = readArmCorim("--corim", opts.Corim, corim.CCAPlatform); err != nil {
		return err
	}
	if opts.RealmCorim != "" {
		if p.Realm, err = readArmCorim("--realm-corim", opts.RealmCorim, corim.CCARealm); err != nil {
			return err
		}
	}
	o := verifyArmOutput{Inputs: map[string]string{"corim": opts.Corim}}
	if opts.RealmCorim != "" {
		o.Inputs["realm_corim"] = opts.RealmCorim
	}
	var rep *armattest.CCAReport
	what := "CCA token " + opts.Token
	if opts.RATLSCert != "" {
		what = "RA-TLS certificate " + opts.RATLSCert
		o.Inputs["ratls_cert"] = opts.RATLSCert
		data, err := readSmall(opts.RATLSCert, maxTokenFile)
		if err != nil {
			return err
		}
		cert, err := armattest.ReadRATLS(data)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.RATLSCert, err)
		}
		if rep, err = armattest.VerifyRATLS(cert, nonce, p); err != nil {
			return fmt.Errorf("%s: %w", opts.RATLSCert, err)
		}
	} else {
		o.Inputs["token"] = opts.Token
		data, err := readSmall(opts.Token, maxTokenFile)
		if err != nil {
			return err
		}
		tok, err := armattest.ReadCCA(maybeHex(data))
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Token, err)
		}
		p.Challenge = nonce
		rep = armattest.VerifyCCA(tok, p)
	}
	o.Verified, o.Token, o.Certificate, o.Checks = rep.Verified, rep.Token, rep.Certificate, rep.Checks
	in := ear.Issue{Submod: "ARM_CCA", Checks: rep.Checks, Vector: ear.ArmVector, Nonce: freshNonce(rep.Checks, "realm-challenge", nonce)}
	if err := renderResult(out, opts.Output, opts.EARKey, in, o, func(w io.Writer) error { return verifyCCAText(w, what, rep) }); err != nil {
		return err
	}
	return armVerdict(what, rep.Checks)
}

func verifyCCAText(w io.Writer, what string, rep *armattest.CCAReport) error {
	fmt.Fprintf(w, "%s\n", what)
	if c := rep.Certificate; c != nil {
		fmt.Fprintf(w, "  certificate  %s, issuer %s, %s, %s to %s, token %d bytes\n", c.Subject, c.Issuer, c.Key, c.NotBefore[:10], c.NotAfter[:10], c.TokenSize)
	}
	p, r := rep.Token.Platform, rep.Token.Realm
	fmt.Fprintf(w, "  platform     %s, implementation %s, instance %s, lifecycle 0x%04x, %d software component(s)\n",
		p.Profile, p.ImplID, p.InstID, p.Lifecycle, len(p.Components))
	profile := r.Profile
	if profile == "" {
		profile = "no profile claim"
	}
	fmt.Fprintf(w, "  realm        %s, %s RIM %s\n", profile, r.HashAlg, r.RIM)
	fmt.Fprintf(w, "  challenge    %s\n", r.Challenge)
	writeQuoteChecks(w, rep.Checks, "")
	return nil
}

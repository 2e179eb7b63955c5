package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/ear"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

type verifyEAROptions struct {
	Token   string
	Keys    []string
	JWKS    string
	Nonce   string
	Timeout time.Duration
	Output  string
}

func newVerifyEARCmd() *cobra.Command {
	opts := &verifyEAROptions{}
	c := &cobra.Command{
		Use:   "ear JWT-FILE",
		Short: "Verify an EAR attestation result (Veraison's or goldenpcr's) and print its trust vector in words",
		Long: `Verify an EAR (EAT Attestation Result) JWT, as Veraison's verification API
returns it and as goldenpcr verify quote -o ear writes it: the signature under
a key given with --key (PEM public key or certificate; repeatable, any one may
verify) or a JWK set given with --jwks (a file, or an https URL such as
Veraison's /.well-known/veraison/verification, whose ear-verification-key is
used); alg "none" is refused; exp and nbf are checked when the token has them;
the eat_profile must be tag:github.com,2023:veraison/ear; with --nonce the
eat_nonce must be that nonce. Each submodule's status and every claim of its
trust vector are printed in words.

Exit codes: 0 = the signature, profile and nonce hold and every submodule is
affirming; 1 = any of them fails (a warning or contraindicated status too);
2 = the token, key or JWK set cannot be read.`,
		Example: `  goldenpcr verify ear result.jwt --key verifier.pem --nonce "$NONCE"
  goldenpcr verify ear result.jwt --jwks https://veraison:8080/.well-known/veraison/verification
  goldenpcr verify quote … -o ear --ear-key ear.key > result.jwt && goldenpcr verify ear result.jwt --key ear.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Token = args[0]
			return runVerifyEAR(c.Context(), opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Keys, "key", nil, "public key (PEM or DER, key or certificate) that signed the result; repeatable")
	f.StringVar(&opts.JWKS, "jwks", "", "JWK set, or Veraison's verification discovery document, as a file or an https URL")
	f.StringVar(&opts.Nonce, "nonce", "", "hex nonce the result must answer (its eat_nonce)")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "time limit for fetching --jwks from a URL")
	outputFlag(c, &opts.Output)
	return c
}

// maxJWTInput bounds what is read as a token or a JWK set.
const maxJWTInput = 1 << 20

func runVerifyEAR(ctx context.Context, opts *verifyEAROptions, stdin io.Reader, out io.Writer) error {
	if (len(opts.Keys) == 0) == (opts.JWKS == "") {
		return fmt.Errorf("give the result's key with --key or --jwks (one of them)")
	}
	token, err := readInput(opts.Token, stdin, maxJWTInput)
	if err != nil {
		return err
	}
	var nonce []byte
	if opts.Nonce != "" {
		if nonce, err = parseHexArg("--nonce", opts.Nonce); err != nil {
			return err
		}
	}
	var keys []crypto.PublicKey
	for _, path := range opts.Keys {
		data, err := readInput(path, stdin, maxJWTInput)
		if err != nil {
			return err
		}
		k, err := tpmstruct.ParsePublic(data)
		if err != nil {
			return fmt.Errorf("--key %s: %w", path, err)
		}
		keys = append(keys, k.Key)
	}
	if opts.JWKS != "" {
		if keys, err = readJWKS(ctx, opts.JWKS, opts.Timeout); err != nil {
			return fmt.Errorf("--jwks %s: %w", opts.JWKS, err)
		}
	}
	res, err := ear.Verify(bytes.TrimSpace(token), keys, nonce, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Token, err)
	}
	if err := render(out, opts.Output, res, func(w io.Writer) error { return earText(w, opts.Token, res) }); err != nil {
		return err
	}
	if !res.Verified() {
		return mismatch("EAR %s NOT verified", opts.Token)
	}
	return nil
}

func earText(w io.Writer, path string, r *ear.Result) error {
	fmt.Fprintf(w, "EAR %s: %s, issued %s by %s\n", path, r.Algorithm, r.IssuedAt.Format(time.RFC3339), orNone(r.Verifier))
	for _, s := range r.Submods {
		fmt.Fprintf(w, "submodule %s: %s", s.Name, s.Status)
		if s.PolicyID != "" {
			fmt.Fprintf(w, " (policy %s)", s.PolicyID)
		}
		fmt.Fprintln(w)
		if len(s.TrustVector) == 0 {
			fmt.Fprintln(w, "  no trust vector claim")
		}
		for _, c := range s.TrustVector {
			fmt.Fprintf(w, "  %-17s %3d %-15s %s\n", c.Claim, c.Value, c.Tier, c.Meaning)
		}
	}
	writeQuoteChecks(w, r.Checks, "")
	return nil
}

// readJWKS reads the keys of a JWK set, or of Veraison's verification
// discovery document (its ear-verification-key), from a file or an https
// URL.
func readJWKS(ctx context.Context, src string, timeout time.Duration) ([]crypto.PublicKey, error) {
	var data []byte
	var err error
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		if !strings.HasPrefix(src, "https://") {
			return nil, fmt.Errorf("only https URLs: a key fetched in the clear proves nothing")
		}
		data, err = fetchLimited(ctx, src, timeout)
	} else {
		data, err = readInput(src, nil, maxJWTInput)
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Key json.RawMessage `json:"ear-verification-key"`
	}
	if json.Unmarshal(data, &doc) == nil && len(doc.Key) > 0 {
		data = doc.Key
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("not a JWK set or JWK: %w", err)
	}
	var keys []crypto.PublicKey
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		pub, err := k.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		var raw any
		if err := pub.Raw(&raw); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, raw)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key in the set")
	}
	return keys, nil
}

func fetchLimited(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWTInput+1))
	if err == nil && len(data) > maxJWTInput {
		err = fmt.Errorf("more than %d bytes", maxJWTInput)
	}
	return data, err
}

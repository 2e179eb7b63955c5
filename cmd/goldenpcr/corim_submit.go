package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/veraison/apiclient/auth"
	apicommon "github.com/veraison/apiclient/common"

	"github.com/goldenpcr/goldenpcr/corim"
)

type corimSubmitOptions struct {
	File             string
	URL              string
	Auth             string
	Username         string
	PasswordFile     string
	TokenURL         string
	ClientID         string
	ClientSecretFile string
	CA               []string
	MediaType        string
	Output           string
}

func newCorimSubmitCmd() *cobra.Command {
	opts := &corimSubmitOptions{}
	c := &cobra.Command{
		Use:   "submit FILE --url https://HOST:PORT [--auth none|basic|oauth2 …] [--ca CA.pem]",
		Short: "Provision a Veraison verifier with a CoRIM: discovery, media type check, submit",
		Long: `Submit a CoRIM to Veraison's provisioning API, as the contract in
docs/corim.md says:

  1. GET /.well-known/veraison/provisioning, the discovery document, and
     refuse (exit 1, nothing sent) when the media types it lists do not
     include the CoRIM's: application/rim+cbor or application/rim+cose with
     the CoRIM's own profile (--media-type names another);
  2. POST the CoRIM to the submit endpoint the document names (on the same
     origin as --url) with that Content-Type;
  3. read the provisioning session: status success is exit 0; status failed
     (a 200!), 415 (with the media types the verifier accepts) and 400 are
     the verifier refusing the CoRIM, exit 1 with its reason.

The CoRIM is decoded and validated first, and a signed CoRIM must verify with
its x5chain. Only https URLs are used; --ca makes its certificates the only
roots the verifier's certificate may chain to (else the system's roots).
Credentials: --auth basic with --username and --password-file, or --auth
oauth2 (Keycloak's password grant) with --token-url, --client-id,
--client-secret-file, --username and --password-file.

Exit codes: 0 = provisioned, 1 = the verifier refused the CoRIM, 2 = bad usage,
an unreadable or invalid CoRIM, or a verifier that cannot be reached, whose
certificate does not verify, that refuses the credentials (401, 403) or
answers outside the contract.`,
		Example: `  goldenpcr corim submit tpm.corim --url https://veraison.example:9443 --ca veraison-ca.pem
  goldenpcr corim submit node.corim --url https://veraison.example:9443 --ca ca.pem \
      --auth basic --username provisioner --password-file secret.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			return runCorimSubmit(opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.URL, "url", "", "the Veraison provisioning service, https://HOST:PORT (required)")
	f.StringVar(&opts.Auth, "auth", "none", "authentication: none, basic or oauth2")
	f.StringVar(&opts.Username, "username", "", "user name for --auth basic or oauth2")
	f.StringVar(&opts.PasswordFile, "password-file", "", "file holding the password for --auth basic or oauth2")
	f.StringVar(&opts.TokenURL, "token-url", "", "OAuth2 token endpoint (e.g. Keycloak's …/protocol/openid-connect/token)")
	f.StringVar(&opts.ClientID, "client-id", "", "OAuth2 client id")
	f.StringVar(&opts.ClientSecretFile, "client-secret-file", "", "file holding the OAuth2 client secret")
	f.StringArrayVar(&opts.CA, "ca", nil, "CA certificates (PEM) the verifier's TLS certificate must chain to, instead of the system's (repeatable)")
	f.StringVar(&opts.MediaType, "media-type", "", "submit with this media type instead of the CoRIM's own")
	outputFlag(c, &opts.Output)
	return c
}

// corimSubmitOutput is the report of a submission.
type corimSubmitOutput struct {
	File        string `json:"file" yaml:"file"`
	URL         string `json:"url" yaml:"url"`
	Provisioned bool   `json:"provisioned" yaml:"provisioned"`
	*corim.Submission
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

func runCorimSubmit(opts *corimSubmitOptions, stdin io.Reader, out io.Writer) error {
	base, err := submitURL(opts.URL)
	if err != nil {
		return err
	}
	data, err := readCorimInput(opts.File, stdin)
	if err != nil {
		return err
	}
	d, err := corim.Decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	if s := d.Signature; d.Signed && (s == nil || !s.Verified) {
		return fmt.Errorf("%s: signed CoRIM: %s; Veraison would refuse it", opts.File, s.Problem)
	}
	mediaType := opts.MediaType
	if mediaType == "" {
		if mediaType = d.MediaType; mediaType == "" {
			return fmt.Errorf("%s: profile %q is none goldenpcr knows, so it cannot name the media type: give --media-type", opts.File, d.Profile)
		}
	}
	client, err := submitClient(opts)
	if err != nil {
		return err
	}
	p := &corim.Provisioner{Base: base, Client: client}
	sub, err := p.Submit(data, mediaType)
	o := corimSubmitOutput{File: opts.File, URL: base.String(), Provisioned: err == nil, Submission: sub}
	var se *corim.SubmitError
	switch {
	case err == nil:
	case !errors.As(err, &se):
		return err
	case se.Rejected:
		o.Reason = se.Error()
	case corim.IsTLSVerification(err):
		return fmt.Errorf("%s: %w (the verifier's TLS certificate does not chain to %s)", opts.URL, err, caWord(opts.CA))
	default:
		return fmt.Errorf("%s: %w", opts.URL, err)
	}
	if err := render(out, opts.Output, o, func(w io.Writer) error { return corimSubmitText(w, &o) }); err != nil {
		return err
	}
	if !o.Provisioned {
		return mismatch("%s NOT provisioned: %s", opts.File, o.Reason)
	}
	return nil
}

func caWord(ca []string) string {
	if len(ca) == 0 {
		return "the system's roots (give the verifier's CA with --ca)"
	}
	return "--ca " + strings.Join(ca, ", ")
}

func corimSubmitText(w io.Writer, o *corimSubmitOutput) error {
	if o.Provisioned {
		fmt.Fprintf(w, "provisioned %s to %s: status %s\n", o.File, o.URL, o.Status)
	} else {
		fmt.Fprintf(w, "NOT provisioned %s to %s: %s\n", o.File, o.URL, o.Reason)
	}
	if s := o.Submission; s != nil {
		fmt.Fprintf(w, "  media type  %s\n", s.MediaType)
		if s.Endpoint != "" {
			fmt.Fprintf(w, "  endpoint    %s\n", s.Endpoint)
		}
		fmt.Fprintf(w, "  verifier    version %s, %s; offers %d media type(s)\n", orNone(s.Version), orNone(s.ServiceState), len(s.Offered))
	}
	return nil
}

// submitURL checks --url: https, a host, nothing after the path.
func submitURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, errors.New("--url is required: the Veraison provisioning service, https://HOST:PORT")
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--url %q: %w", v, err)
	case u.Scheme != "https":
		return nil, fmt.Errorf("--url %q: want https://HOST:PORT; a CoRIM and credentials are never sent in clear text", v)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("--url %q: want https://HOST:PORT, with no user, query or fragment", v)
	}
	return u, nil
}

// submitClient is the apiclient client: a TLS transport trusting --ca (or
// the system's roots) and the authenticator --auth names.
func submitClient(opts *corimSubmitOptions) (*apicommon.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(opts.CA) > 0 {
		pool := x509.NewCertPool()
		for _, path := range opts.CA {
			data, err := readSmall(path, maxKeyFile)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			if block, _ := pem.Decode(data); block == nil || !pool.AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("--ca %s: no PEM certificate", path)
			}
		}
		cfg.RootCAs = pool
	}
	a, err := submitAuth(opts)
	if err != nil {
		return nil, err
	}
	return apicommon.NewClientWithTransport(a, &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}), nil
}

func submitAuth(opts *corimSubmitOptions) (auth.IAuthenticator, error) {
	secret := func(flag, path string) (string, error) {
		if path == "" {
			return "", fmt.Errorf("--auth %s needs %s", opts.Auth, flag)
		}
		b, err := readSmall(path, 64<<10)
		if err != nil {
			return "", fmt.Errorf("%s: %w", flag, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("%s %s is empty", flag, path)
		}
		return s, nil
	}
	oauthOnly := opts.TokenURL != "" || opts.ClientID != "" || opts.ClientSecretFile != ""
	switch opts.Auth {
	case "none":
		if opts.Username != "" || opts.PasswordFile != "" || oauthOnly {
			return nil, errors.New("credentials given with --auth none: name the method with --auth basic or oauth2")
		}
		return nil, nil
	case "basic":
		if oauthOnly {
			return nil, errors.New("--token-url, --client-id and --client-secret-file are for --auth oauth2")
		}
		if opts.Username == "" {
			return nil, errors.New("--auth basic needs --username")
		}
		pw, err := secret("--password-file", opts.PasswordFile)
		if err != nil {
			return nil, err
		}
		return &auth.BasicAuthenticator{Username: opts.Username, Password: pw}, nil
	case "oauth2":
		if opts.Username == "" || opts.TokenURL == "" || opts.ClientID == "" {
			return nil, errors.New("--auth oauth2 needs --token-url, --client-id, --client-secret-file, --username and --password-file")
		}
		if _, err := submitURL(opts.TokenURL); err != nil {
			return nil, fmt.Errorf("--token-url: %w", err)
		}
		pw, err := secret("--password-file", opts.PasswordFile)
		if err != nil {
			return nil, err
		}
		cs, err := secret("--client-secret-file", opts.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		return &auth.Oauth2Authenticator{TokenURL: opts.TokenURL, ClientID: opts.ClientID, ClientSecret: cs,
			Username: opts.Username, Password: pw, CACerts: opts.CA}, nil
	}
	return nil, fmt.Errorf("--auth %q: want none, basic or oauth2", opts.Auth)
}

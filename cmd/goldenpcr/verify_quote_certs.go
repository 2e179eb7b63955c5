package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/quote"
)

// loadEK reads --ek-cert, --ek-roots, --ek-intermediates and --ek-pub.
// Without --ek-cert it returns nil and rejects the other three.
func loadEK(opts *verifyQuoteOptions) (*quote.TPMCertificate, *quote.EKPolicy, error) {
	if opts.EKCert == "" {
		if len(opts.EKRoots) > 0 || len(opts.EKIntermediates) > 0 || opts.EKPub != "" {
			return nil, nil, errors.New("--ek-roots, --ek-intermediates and --ek-pub check an EK certificate: give --ek-cert")
		}
		return nil, nil, nil
	}
	b, err := readSmall(opts.EKCert, maxKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ek-cert: %w", err)
	}
	ek, err := quote.ParseTPMCertificate(b)
	if err != nil {
		return nil, nil, fmt.Errorf("--ek-cert %s: %w", opts.EKCert, err)
	}
	p := &quote.EKPolicy{}
	if p.Roots, err = readCertsPaths("--ek-roots", opts.EKRoots); err != nil {
		return nil, nil, err
	}
	if p.Intermediates, err = readCertsPaths("--ek-intermediates", opts.EKIntermediates); err != nil {
		return nil, nil, err
	}
	if opts.EKPub != "" {
		b, err := readSmall(opts.EKPub, maxKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ek-pub: %w", err)
		}
		if p.EKPub, err = quote.ParsePublic(b); err != nil {
			return nil, nil, fmt.Errorf("--ek-pub %s: %w", opts.EKPub, err)
		}
	}
	return ek, p, nil
}

// akCertCheck runs the ak-cert check when --ak-cert, --ak-roots or
// --ak-intermediates ask for it, on --ak-cert, else an --ak given as a
// certificate, else the attestation's ak_cert with its intermediates.
func akCertCheck(opts *verifyQuoteOptions, ak *quote.PublicKey, bundleCert []byte, bundleInter [][]byte) (*quote.Check, error) {
	if opts.AKCert == "" && len(opts.AKRoots) == 0 && len(opts.AKIntermediates) == 0 {
		return nil, nil
	}
	p := &quote.AKCertPolicy{}
	var err error
	if p.Roots, err = readCertsPaths("--ak-roots", opts.AKRoots); err != nil {
		return nil, err
	}
	if p.Intermediates, err = readCertsPaths("--ak-intermediates", opts.AKIntermediates); err != nil {
		return nil, err
	}
	for i, der := range bundleInter {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("the attestation's intermediate certificate %d: %w", i+1, err)
		}
		p.Intermediates = append(p.Intermediates, c)
	}
	var cert *quote.TPMCertificate
	switch {
	case opts.AKCert != "":
		b, rerr := readSmall(opts.AKCert, maxKeyFile)
		if rerr != nil {
			return nil, fmt.Errorf("--ak-cert: %w", rerr)
		}
		if cert, err = quote.ParseTPMCertificate(b); err != nil {
			return nil, fmt.Errorf("--ak-cert %s: %w", opts.AKCert, err)
		}
	case ak != nil && ak.Certificate != nil:
		if cert, err = quote.ParseTPMCertificate(ak.Certificate.Raw); err != nil {
			return nil, fmt.Errorf("--ak %s: %w", opts.AK, err)
		}
	case len(bundleCert) > 0:
		if cert, err = quote.ParseTPMCertificate(bundleCert); err != nil {
			return nil, fmt.Errorf("the attestation's ak_cert: %w", err)
		}
	}
	c := quote.VerifyAKCert(cert, ak, p)
	return &c, nil
}

// readCertsPaths reads the certificates of every path a flag was given.
func readCertsPaths(flag string, paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		certs, err := readCertsPath(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

// readCertsPath reads the certificates of a PEM/DER file, or of every
// *.pem, *.crt, *.cer and *.der file in a folder (not recursively; a
// folder without any is an error, so a wrong folder is noticed).
func readCertsPath(path string) ([]*x509.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".pem", ".crt", ".cer", ".der":
				if e.Type().IsRegular() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.pem, *.crt, *.cer or *.der files", path)
		}
	}
	var out []*x509.Certificate
	for _, f := range files {
		b, err := readSmall(f, maxKeyFile)
		if err != nil {
			return nil, err
		}
		certs, err := quote.ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

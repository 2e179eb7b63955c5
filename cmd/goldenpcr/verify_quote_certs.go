package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/loadcache"
	"github.com/goldenpcr/goldenpcr/tpmcert"
)

// readCertsPath reads the certificates of a PEM/DER file, or of every
// *.pem, *.crt, *.cer and *.der file in a folder (not recursively; a
// folder without any is an error, so a wrong folder is noticed). The files
// are read through c (nil: no cache).
func readCertsPath(c *loadcache.Files, path string) ([]*x509.Certificate, error) {
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
		certs, err := loadcache.Load(c, f, "certificates", maxKeyFile, func(b []byte) ([]*x509.Certificate, error) {
			certs, err := tpmcert.ParseCertificates(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			return certs, nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, certs...)
	}
	return out, nil
}

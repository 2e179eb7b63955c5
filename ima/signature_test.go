package ima

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func sigBytes(typ, version byte, algo HashAlgo, keyid uint32, value []byte) []byte {
	b := []byte{typ, version, byte(algo), 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[3:], keyid)
	binary.BigEndian.PutUint16(b[7:], uint16(len(value)))
	return append(b, value...)
}

// Version 3 signatures sign the hash of struct ima_file_id (type,
// algorithm, digest); evmctl 1.4 cannot make them, so this test signs with
// Go. A bare PEM public key is found by evmctl's key id rule.
func TestSignatureVersions(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	p := filepath.Join(t.TempDir(), "pub.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	var kr Keyring
	if err := kr.LoadKeyFile(p); err != nil {
		t.Fatal(err)
	}
	id := kr.Keys[0].ID
	digest := sha256.Sum256([]byte("verity tree root"))
	fileID := sha256.Sum256(append([]byte{XattrVerityDigsig, byte(HashSHA256)}, digest[:]...))
	v3, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, fileID[:])
	v2, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	cases := []struct {
		name string
		sig  []byte
		algo HashAlgo
		want SigStatus
	}{
		{"v3 verity", sigBytes(XattrVerityDigsig, 3, HashSHA256, id, v3), HashSHA256, SigGood},
		{"v2", sigBytes(XattrDigsig, 2, HashSHA256, id, v2), HashSHA256, SigGood},
		{"v3 bytes as v2", sigBytes(XattrDigsig, 2, HashSHA256, id, v3), HashSHA256, SigBad},
		{"v2 bytes as v3", sigBytes(XattrVerityDigsig, 3, HashSHA256, id, v2), HashSHA256, SigBad},
		{"file digest in another algorithm", sigBytes(XattrDigsig, 2, HashSHA256, id, v2), HashSHA512, SigBad},
		{"unknown key", sigBytes(XattrDigsig, 2, HashSHA256, id^1, v2), HashSHA256, SigUnknownKey},
		{"version 1", []byte{XattrDigsig, 1, 0, 0}, HashSHA256, SigUnsupported},
	}
	for _, c := range cases {
		s, err := ParseSignature(c.sig)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := kr.Verify(s, c.algo, digest[:]); got.Status != c.want {
			t.Errorf("%s: %+v, want %s", c.name, got, c.want)
		}
	}
	bad := sigBytes(XattrDigsig, 2, HashSHA256, id, v2)
	for name, b := range map[string][]byte{"size": bad[:len(bad)-1], "type": append([]byte{0x04}, bad[1:]...), "short": bad[:5], "version": append([]byte{3, 9}, bad[2:]...)} {
		if _, err := ParseSignature(b); err == nil {
			t.Errorf("%s: malformed signature parsed", name)
		}
	}
}

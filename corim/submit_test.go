package corim

import (
	"slices"
	"strings"
	"testing"
)

func TestSameMediaType(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`application/rim+cbor; profile="tag:x"`, `Application/RIM+CBOR;profile="tag:x"`, true},
		{`application/rim+cbor; profile="x"`, `application/rim+cbor; profile=x`, true},
		{`application/rim+cbor; profile="tag:x"`, `application/rim+cbor; profile=tag:x`, false}, // ':' needs quotes
		{`application/rim+cbor; profile="tag:x"`, `application/rim+cbor; profile="tag:X"`, false},
		{`application/rim+cbor; profile="tag:x"`, `application/rim+cose; profile="tag:x"`, false},
		{`application/rim+cbor; profile="tag:x"`, `application/rim+cbor`, false},
		{`application/rim+cbor; profile="tag:x`, `application/rim+cbor; profile="tag:x`, false},
	} {
		if got := SameMediaType(tc.a, tc.b); got != tc.same {
			t.Errorf("SameMediaType(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestAcceptList(t *testing.T) {
	got := acceptList([]string{`application/rim+cbor; profile="a,b", application/rim+cose; profile="c"`, " application/psa-attestation-token "})
	want := []string{`application/rim+cbor; profile="a,b"`, `application/rim+cose; profile="c"`, "application/psa-attestation-token"}
	if !slices.Equal(got, want) {
		t.Errorf("acceptList = %q", got)
	}
}

func TestParseAnswers(t *testing.T) {
	d, err := ParseDiscovery([]byte(`{"media-types":["application/rim+cbor; profile=\"tag:x\""],"version":"v","service-state":"READY","api-endpoints":{"provisioning/submit":"/endorsement-provisioning/v1/submit"}}`))
	if err != nil || len(d.MediaTypes) != 1 || d.ApiEndpoints["provisioning/submit"] != SubmitPath {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseDiscovery([]byte(`{"media-types":["not a type;;"]}`)); err == nil {
		t.Error("a malformed media type was accepted")
	}
	s, err := ParseSession([]byte(`{"status":"failed","failure-reason":"no plugin"}`))
	if err != nil || s.FailureReason == nil || *s.FailureReason != "no plugin" {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := ParseSession([]byte(`{"status":"complete"}`)); err == nil || !strings.Contains(err.Error(), `"complete"`) {
		t.Errorf("status complete: %v", err)
	}
}

// FuzzSubmitAnswers: the readers of the verifier's answers never panic;
// a discovery document they accept lists only media types that compare
// equal to themselves, and an Accept header splits into trimmed,
// non-empty media types.
func FuzzSubmitAnswers(f *testing.F) {
	f.Add([]byte(`{"media-types":["application/rim+cbor; profile=\"tag:github.com/parallaxsecond,2023-03-03:tpm\""],"version":"v","api-endpoints":{"provisioning/submit":"/x"}}`))
	f.Add([]byte(`{"status":"failed","failure-reason":"r"}`))
	f.Add([]byte(`application/rim+cbor; profile="a,b", application/rim+cose`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := ParseDiscovery(data); err == nil {
			for _, mt := range d.MediaTypes {
				if !SameMediaType(mt, mt) {
					t.Fatalf("%q is not the same as itself", mt)
				}
			}
		}
		if s, err := ParseSession(data); err == nil && s == nil {
			t.Fatal("no session and no error")
		}
		for _, mt := range acceptList([]string{string(data)}) {
			if mt == "" || mt != strings.TrimSpace(mt) {
				t.Fatalf("entry %q", mt)
			}
		}
	})
}

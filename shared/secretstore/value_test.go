package secretstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

// What the Store writes is what the Cache reads.
func TestValueRoundTrip(t *testing.T) {
	c := feedcreds.Credentials{Key: "us2-key-0123", Secret: "secret-4567"}
	s, err := encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if s != `{"key":"us2-key-0123","secret":"secret-4567"}` {
		t.Fatalf("secret value %s", s)
	}
	got, err := Parse(s)
	if err != nil || got != c {
		t.Fatalf("Parse(encode(c)) differs (err %v)", err)
	}
}

func TestParseRefusesMalformedValues(t *testing.T) {
	const leak = "very-secret-value"
	for _, v := range []string{
		"", "not json " + leak, `"` + leak + `"`, `{"key":"` + leak + `"}`, `{"secret":"` + leak + `"}`,
		`{"key":"","secret":"` + leak + `"}`, `{"key":1,"secret":"` + leak + `"}`,
	} {
		_, err := Parse(v)
		if !errors.Is(err, feedcreds.ErrMalformed) {
			t.Errorf("Parse(%.12q…) = %v, want ErrMalformed", v, err)
			continue
		}
		if strings.Contains(err.Error(), leak) {
			t.Errorf("the error quotes the value: %v", err)
		}
	}
}

package integrationstore

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

func TestCursorRoundTripAndRefusals(t *testing.T) {
	const id = "01900000-0000-7000-8000-000000000001"
	good, err := encodeCursor("app1", id)
	if err != nil {
		t.Fatal(err)
	}
	key, err := decodeCursor(good, "app1")
	if err != nil {
		t.Fatalf("decode own cursor: %v", err)
	}
	if len(key) != 2 || key[stack.TableHashKey] == nil || key[stack.TableRangeKey] == nil {
		t.Fatalf("decoded key %v", key)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := map[string]string{
		"other app":         good, // decoded for app2 below
		"not base64":        "!!!",
		"not json":          b64("hello"),
		"unknown field":     b64(`{"pk":"APP#app2","sk":"MPARTICLE#` + id + `","x":1}`),
		"trailing data":     b64(`{"pk":"APP#app2","sk":"MPARTICLE#` + id + `"}{}`),
		"wrong sk prefix":   b64(`{"pk":"APP#app2","sk":"OTHER#` + id + `"}`),
		"sk not a uuid":     b64(`{"pk":"APP#app2","sk":"MPARTICLE#zzz"}`),
		"prefix app match":  b64(`{"pk":"APP#app2x","sk":"MPARTICLE#` + id + `"}`),
		"too long":          strings.Repeat("A", maxCursorLen+1),
		"empty sort key":    b64(`{"pk":"APP#app2","sk":""}`),
		"uuid without dash": b64(`{"pk":"APP#app2","sk":"MPARTICLE#` + strings.ReplaceAll(id, "-", "") + `"}`),
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCursor(token, "app2"); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decode: %v, want ErrBadCursor", err)
			}
		})
	}
}

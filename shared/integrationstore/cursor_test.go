package integrationstore

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// startKey returns the app and integration id an ExclusiveStartKey names.
func startKey(t *testing.T, key map[string]types.AttributeValue) (pk, sk string) {
	t.Helper()
	if len(key) != 2 {
		t.Fatalf("key has %d attributes", len(key))
	}
	pk = key[stack.TableHashKey].(*types.AttributeValueMemberS).Value
	sk = key[stack.TableRangeKey].(*types.AttributeValueMemberS).Value
	return pk, sk
}

func TestCursorRoundTrip(t *testing.T) {
	pattern := regexp.MustCompile(CursorPattern)
	ids := []string{"01900000-0000-7000-8000-000000000001", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"}
	for range 200 {
		ids = append(ids, uuid.New().String())
	}
	for _, id := range ids {
		tok, err := encodeCursor(id)
		if err != nil {
			t.Fatal(err)
		}
		if !pattern.MatchString(tok) {
			t.Fatalf("cursor %q of %s does not match CursorPattern", tok, id)
		}
		key, err := decodeCursor(tok, "app1")
		if err != nil {
			t.Fatalf("decode own cursor %q: %v", tok, err)
		}
		if pk, sk := startKey(t, key); pk != PK("app1") || sk != SK(id) {
			t.Fatalf("cursor of %s decoded to %s %s", id, pk, sk)
		}
	}
	if _, err := encodeCursor("not-a-uuid"); err == nil {
		t.Error("encoded a cursor for an id that is not a UUID")
	}
}

// Any string of the documented shape is a cursor, and it only ever names a position in
// the caller's own app.
func TestEveryCursorShapedTokenIsAPositionInTheCallersApp(t *testing.T) {
	for range 500 {
		var b [16]byte
		_, _ = rand.Read(b[:])
		tok := base64.RawURLEncoding.EncodeToString(b[:])
		key, err := decodeCursor(tok, "app2")
		if err != nil {
			t.Fatalf("token %q of the documented shape refused: %v", tok, err)
		}
		if pk, sk := startKey(t, key); pk != PK("app2") || !strings.HasPrefix(sk, skPrefix) {
			t.Fatalf("token %q decoded to %s %s", tok, pk, sk)
		}
	}
}

func TestCursorRefusals(t *testing.T) {
	good, err := encodeCursor("01900000-0000-7000-8000-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := map[string]string{
		"empty":                    "",
		"not base64":               "!!!!!!!!!!!!!!!!!!!!!A",
		"one character short":      good[:21],
		"one character long":       good + "A",
		"padded":                   good + "==",
		"standard base64 alphabet": strings.Repeat("+", 21) + "A",
		"unused bits set":          good[:21] + "B",
		"uuid in text form":        "01900000-0000-7000-8000-000000000001",
		"old JSON token":           b64(`{"pk":"APP#app2","sk":"MPARTICLE#01900000-0000-7000-8000-000000000001"}`),
		"overlong":                 strings.Repeat("A", 600),
		"trailing newline":         good + "\n",
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCursor(token, "app2"); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decode %q: %v, want ErrBadCursor", token, err)
			}
		})
	}
}

package feedcreds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	testKey    = "us2-KEY-VALUE-7f3a9c1e"
	testSecret = "SECRET-VALUE-Q8wZ4xN2"
)

// Every way a value becomes text must leave the key and the secret out: fmt with any verb,
// slog's handlers, encoding/json and TextMarshaler users, nested in other values, behind a
// pointer, and inside an error.
func TestEverySurfaceRedacts(t *testing.T) {
	c := Credentials{Key: testKey, Secret: testSecret}
	type feed struct {
		ID    string
		Creds Credentials
		Ptr   *Credentials
	}
	nested := feed{ID: "feed-1", Creds: c, Ptr: &c}

	surfaces := map[string]func() (string, error){}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v", "%10.3s", "%-v"} {
		surfaces["fmt "+verb] = func() (string, error) { return fmt.Sprintf(verb, c), nil }
		surfaces["fmt "+verb+" pointer"] = func() (string, error) { return fmt.Sprintf(verb, &c), nil }
		surfaces["fmt "+verb+" nested"] = func() (string, error) { return fmt.Sprintf(verb, nested), nil }
		surfaces["fmt "+verb+" slice"] = func() (string, error) { return fmt.Sprintf(verb, []Credentials{c}), nil }
	}
	surfaces["fmt Sprint"] = func() (string, error) { return fmt.Sprint(c, &c, nested), nil }
	surfaces["fmt Sprintln"] = func() (string, error) { return fmt.Sprintln(c, &c, nested), nil }
	surfaces["error"] = func() (string, error) {
		return fmt.Errorf("upload with %v failed: %w", c, errors.New("refused")).Error(), nil
	}
	surfaces["error with %+v of a struct"] = func() (string, error) { return fmt.Errorf("feed %+v", nested).Error(), nil }
	surfaces["String"] = func() (string, error) { return c.String() + c.GoString(), nil }
	surfaces["json"] = func() (string, error) { b, err := json.Marshal(c); return string(b), err }
	surfaces["json pointer"] = func() (string, error) { b, err := json.Marshal(&c); return string(b), err }
	surfaces["json nested"] = func() (string, error) { b, err := json.Marshal(nested); return string(b), err }
	surfaces["json map"] = func() (string, error) { b, err := json.Marshal(map[string]any{"c": c}); return string(b), err }
	surfaces["text"] = func() (string, error) { b, err := c.MarshalText(); return string(b), err }
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		surfaces[name] = func() (string, error) {
			var buf bytes.Buffer
			log := slog.New(h(&buf))
			log.Info("x", "creds", c, "ptr", &c, "nested", nested, slog.Group("g", "c", c))
			log.With("creds", c).Info("with", slog.Any("any", c))
			return buf.String(), nil
		}
	}

	for name, render := range surfaces {
		t.Run(name, func(t *testing.T) {
			out, err := render()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, testKey) || strings.Contains(out, testSecret) ||
				strings.Contains(out, "KEY-VALUE") || strings.Contains(out, "SECRET-VALUE") {
				t.Fatalf("credentials leaked: %s", out)
			}
			if !strings.Contains(out, Redacted) && !strings.Contains(out, fmt.Sprintf("%x", Redacted)) &&
				!strings.Contains(out, fmt.Sprintf("%X", Redacted)) {
				t.Fatalf("no placeholder in %q", out)
			}
		})
	}
}

// JSON holding credentials is read through plain strings, never straight into the type.
func TestNotDecodedImplicitly(t *testing.T) {
	var c Credentials
	if err := json.Unmarshal([]byte(`{"Key":"k","Secret":"s"}`), &c); err == nil || c != (Credentials{}) {
		t.Fatalf("decoded %v (err %v), want a refusal", c.Key != "", err)
	}
	var holder struct{ C Credentials }
	if err := json.Unmarshal([]byte(`{"C":{"Key":"k","Secret":"s"}}`), &holder); err == nil {
		t.Fatal("a struct holding Credentials was decoded")
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		c    Credentials
		want bool
	}{
		{Credentials{Key: "k", Secret: "s"}, true},
		{Credentials{Key: "k"}, false},
		{Credentials{Secret: "s"}, false},
		{Credentials{}, false},
	} {
		if got := tc.c.Complete(); got != tc.want {
			t.Errorf("key set %v, secret set %v: Complete() = %v", tc.c.Key != "", tc.c.Secret != "", got)
		}
	}
}

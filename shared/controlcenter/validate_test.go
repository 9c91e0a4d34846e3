package controlcenter

import (
	"errors"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

func TestValidateCreate(t *testing.T) {
	with := func(f func(*Input)) Input { in := validInput(); f(&in); return in }
	tests := []struct {
		name   string
		in     Input
		field  string // "" when valid
		legacy bool
	}{
		{"valid", validInput(), "", false},
		{"name missing", with(func(in *Input) { in.Name = nil }), "name", false},
		{"scope missing", with(func(in *Input) { in.Scope = nil }), "scope", false},
		{"platform missing", with(func(in *Input) { in.Platform = nil }), "platform", false},
		{"events missing", with(func(in *Input) { in.Events = nil }), "events", false},
		{"credentials missing", with(func(in *Input) { in.Credentials = nil }), "credentials", false},
		{"blank name", with(func(in *Input) { in.Name = ptr(" \t ") }), "name", false},
		{"control character in name", with(func(in *Input) { in.Name = ptr("a\x00b") }), "name", false},
		{"bidi override in name", with(func(in *Input) { in.Name = ptr("iOS \u202egnp.exe") }), "name", false},
		{"bidi isolate in name", with(func(in *Input) { in.Name = ptr("feed \u2066x\u2069") }), "name", false},
		{"zero-width space in name", with(func(in *Input) { in.Name = ptr("iO\u200bS") }), "name", false},
		{"byte order mark in name", with(func(in *Input) { in.Name = ptr("\ufeffiOS") }), "name", false},
		{"soft hyphen in name", with(func(in *Input) { in.Name = ptr("i\u00adOS") }), "name", false},
		{"tag character in name", with(func(in *Input) { in.Name = ptr("iOS\U000E0041") }), "name", false},
		{"letters of other scripts and emoji in name", with(func(in *Input) { in.Name = ptr("iOS フィード \u05d0 \U0001F600") }), "", false},
		{"name too long", with(func(in *Input) { in.Name = ptr(strings.Repeat("é", MaxNameRunes+1)) }), "name", false},
		{"longest name", with(func(in *Input) { in.Name = ptr(strings.Repeat("é", MaxNameRunes)) }), "", false},
		{"unknown platform", with(func(in *Input) { in.Platform = ptr("palm") }), "platform", false},
		{"unknown pod", with(func(in *Input) { in.Pod = ptr("US3") }), "pod", false},
		{"pod in lower case", with(func(in *Input) { in.Pod = ptr("eu1") }), "", false},
		{"pod with a look-alike letter", with(func(in *Input) { in.Pod = ptr("u\u017f1") }), "pod", false},
		{"partner endpoint", with(func(in *Input) { in.Pod = ptr("") }), "", false},
		{"pod contradicts the key", with(func(in *Input) { in.Pod = ptr("EU1"); in.Credentials = creds("us2-key-000001") }), "pod", false},
		{"the key's pod", with(func(in *Input) { in.Pod = ptr("US2"); in.Credentials = creds("us2-key-000001") }), "", false},
		{"unknown customer id source", with(func(in *Input) { in.CustomerIDSource = ptr("email") }), "customer_id_source", false},
		{"no events", with(func(in *Input) { in.Events = []string{} }), "events", false},
		{"unknown event", with(func(in *Input) { in.Events = []string{"user.bogus"} }), "events", false},
		{"unknown scope", with(func(in *Input) { in.Scope = ptr("app") }), "scope", false},
		{"legacy scope", with(func(in *Input) { in.Scope = ptr("all_platforms"); in.AppPlatformID = nil }), "scope", true},
		{"legacy scope, opted in", with(func(in *Input) {
			in.Scope = ptr("all_platforms")
			in.AppPlatformID = nil
			in.AllowLegacyScope = ptr(true)
		}), "", false},
		{"app platform with legacy scope", with(func(in *Input) { in.Scope = ptr("all_platforms"); in.AllowLegacyScope = ptr(true) }), "app_platform_id", false},
		{"platform scope without app platform", with(func(in *Input) { in.AppPlatformID = nil }), "app_platform_id", false},
		{"malformed app platform", with(func(in *Input) { in.AppPlatformID = ptr("a/b") }), "app_platform_id", false},
		{"empty key", with(func(in *Input) { in.Credentials = &feedcreds.Credentials{Secret: "secret-1234"} }), "credentials.key", false},
		{"short secret", with(func(in *Input) { in.Credentials = &feedcreds.Credentials{Key: "key-12345", Secret: "short"} }), "credentials.secret", false},
		{"key with a space", with(func(in *Input) { in.Credentials = &feedcreds.Credentials{Key: "key 12345", Secret: "secret-1234"} }), "credentials.key", false},
		{"key too long", with(func(in *Input) {
			in.Credentials = &feedcreds.Credentials{Key: strings.Repeat("k", MaxCredentialLen+1), Secret: "secret-1234"}
		}), "credentials.key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ValidateCreate(tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field != tt.field {
				t.Fatalf("err = %v, want a validation error on %s", err, tt.field)
			}
			if errors.Is(err, ErrLegacyScope) != tt.legacy {
				t.Fatalf("legacy rule: %v, want %v", errors.Is(err, ErrLegacyScope), tt.legacy)
			}
		})
	}
}

// A patch is judged on its own members; what is absent is not required.
func TestValidatePatch(t *testing.T) {
	for name, tt := range map[string]struct {
		in    Input
		field string
		empty bool
	}{
		"empty":                             {Input{}, "", true},
		"rename":                            {Input{Name: ptr("x")}, "", false},
		"switch to legacy, checked later":   {Input{Scope: ptr("all_platforms")}, "", false},
		"app platform with legacy scope":    {Input{Scope: ptr("all_platforms"), AppPlatformID: ptr("p")}, "app_platform_id", false},
		"bad credentials":                   {Input{Credentials: &feedcreds.Credentials{Key: "key-00000001"}}, "credentials.secret", false},
		"pod against the key of the change": {Input{Pod: ptr("AU1"), Credentials: creds("eu1-key-00001")}, "pod", false},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := ValidatePatch(tt.in)
			var verr *ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &verr) || verr.Field != tt.field):
				t.Fatalf("err = %v, want a validation error on %s", err, tt.field)
			case tt.field == "" && p.Empty() != tt.empty:
				t.Fatalf("Empty() = %v", p.Empty())
			}
		})
	}
}

// Refusals of credentials name the member, never its value.
func TestValidationNeverQuotesCredentials(t *testing.T) {
	for _, c := range []feedcreds.Credentials{
		{Key: "short", Secret: "secret-value-1"},
		{Key: "key-value-0001", Secret: "s p a c e s"},
		{Key: "key-value-0001", Secret: "sécrèt-välüe"},
		{Key: "us2-key-value-1", Secret: "secret-value-1"},
	} {
		in := validInput()
		in.Credentials, in.Pod = &c, ptr("EU1")
		_, err := ValidateCreate(in)
		if err == nil {
			t.Fatal("accepted")
		}
		if strings.Contains(err.Error(), c.Key) || strings.Contains(err.Error(), c.Secret) {
			t.Fatalf("the refusal quotes a credential: %v", err)
		}
	}
}

func TestIDs(t *testing.T) {
	for s, want := range map[string]bool{
		"app-1": true, "A.b_c:d-9": true, "": false, "-app": false, "a/b": false, "a b": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := ValidAppID(s); got != want {
			t.Errorf("ValidAppID(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{
		"0190a5b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b": true, "0190A5B2-3C4D-7E8F-9A0B-1C2D3E4F5A6B": false,
		"0190a5b23c4d7e8f9a0b1c2d3e4f5a6b": false, "": false, "../x": false,
	} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v", s, got)
		}
	}
}

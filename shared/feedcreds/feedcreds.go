// Package feedcreds is an mParticle input feed's server-to-server key and secret: the one
// type that carries them from the Integrations API's request body to Secrets Manager, and
// from Secrets Manager to the Authorization header of an upload. It has no AWS dependency,
// so the mParticle client and the domain packages can share it.
//
// Credentials never show their values: every way Go code turns a value into text (fmt with
// any verb, slog, encoding/json, encoding.TextMarshaler users) prints Redacted instead, even
// when the credentials sit inside another struct or an error message. Code that needs the
// values reads the fields; code that stores them writes its own format (secretstore).
package feedcreds

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what Credentials print as, and what the mParticle client puts in place of a
// credential that a server or transport message echoes back.
const Redacted = "[redacted]"

// Credentials are a feed's server-to-server key and secret.
type Credentials struct {
	Key    string
	Secret string
}

// Complete reports whether both the key and the secret are set: mParticle refuses a
// request with either missing, so neither is stored nor sent without the other.
func (c Credentials) Complete() bool { return c.Key != "" && c.Secret != "" }

// Format handles every fmt verb, %d and %x included, which a String method alone would
// leave to print the fields.
func (Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

func (Credentials) String() string               { return Redacted }
func (Credentials) GoString() string             { return Redacted }
func (Credentials) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (Credentials) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Credentials) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

var errImplicitDecode = errors.New("feedcreds: credentials are not decoded from JSON implicitly; read the key and secret as strings and build Credentials")

// UnmarshalJSON refuses: JSON that holds credentials (a request body, a secret's value) is
// read through an explicit type of plain strings, so decoding can never depend on field
// names of this type, and a struct that embeds Credentials cannot be filled by accident.
func (*Credentials) UnmarshalJSON([]byte) error { return errImplicitDecode }

// Errors of reading a feed's stored credentials, wrapped by the store that reads them.
var (
	// ErrNotFound: there are no stored credentials (the secret was deleted, or never written).
	ErrNotFound = errors.New("feedcreds: credentials not found")
	// ErrMalformed: what is stored is not a key and a secret, both set.
	ErrMalformed = errors.New("feedcreds: stored value is not a key and a secret")
)

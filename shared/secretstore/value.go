package secretstore

import (
	"encoding/json"
	"errors"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

// value is a secret's JSON value: {"key":"...","secret":"..."}. It is the one place the
// format is spelled out; the Store writes it and the Cache reads it.
type value struct {
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// encode returns the secret value of complete credentials. Errors never include the values.
func encode(c feedcreds.Credentials) (string, error) {
	if !c.Complete() {
		return "", errors.New("secretstore: credentials need a key and a secret")
	}
	b, err := json.Marshal(value{Key: c.Key, Secret: c.Secret})
	if err != nil {
		return "", errors.New("secretstore: encode credentials")
	}
	return string(b), nil
}

// Parse decodes a secret value into credentials, both set. Its error (feedcreds.ErrMalformed)
// never includes the value.
func Parse(s string) (feedcreds.Credentials, error) {
	var v value
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return feedcreds.Credentials{}, feedcreds.ErrMalformed
	}
	c := feedcreds.Credentials{Key: v.Key, Secret: v.Secret}
	if !c.Complete() {
		return feedcreds.Credentials{}, feedcreds.ErrMalformed
	}
	return c, nil
}

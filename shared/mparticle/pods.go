package mparticle

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Events API paths, relative to a pod's base URL (or the override base URL).
const (
	PathEvents     = "/v2/events"
	PathBulkEvents = "/v2/bulkevents"
)

// DefaultPod is used when a feed names no pod: the docs' default host is US1's.
const DefaultPod = "US1"

// podBaseURLs maps each pod to its Events API host. US1 uses the historical host rather
// than s2s.us1.mparticle.com because every SDK and doc example does.
var podBaseURLs = map[string]string{
	"US1": "https://s2s.mparticle.com",
	"US2": "https://s2s.us2.mparticle.com",
	"EU1": "https://s2s.eu1.mparticle.com",
	"AU1": "https://s2s.au1.mparticle.com",
}

// ErrUnknownPod is returned (wrapped) for a pod name that is not a known mParticle pod.
var ErrUnknownPod = errors.New("mparticle: unknown pod")

// NormalizePod returns the canonical (upper-case) name of pod, DefaultPod for "".
// Matching is case-insensitive because pods are typed by people in the Control Center.
func NormalizePod(pod string) (string, error) {
	p := strings.ToUpper(strings.TrimSpace(pod))
	if p == "" {
		return DefaultPod, nil
	}
	if _, ok := podBaseURLs[p]; !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownPod, pod)
	}
	return p, nil
}

// PodBaseURL returns the Events API base URL (scheme and host, no path) of pod.
func PodBaseURL(pod string) (string, error) {
	p, err := NormalizePod(pod)
	if err != nil {
		return "", err
	}
	return podBaseURLs[p], nil
}

// parseBaseURL validates an override base URL: absolute http(s), no path beyond "/", and no
// user info, since credentials in a URL would end up in every transport error message.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("mparticle: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("mparticle: base URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return "", fmt.Errorf("mparticle: base URL %q: missing host", u.Redacted())
	}
	if u.User != nil {
		return "", errors.New("mparticle: base URL must not contain user info")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("mparticle: base URL %q: only scheme, host and port are allowed", u.Redacted())
	}
	return u.Scheme + "://" + u.Host, nil
}

// KeyPod returns the pod a server-to-server key names by its prefix ("us2-..." is US2's),
// and false for a key without a known pod prefix. mParticle issues keys of the non-default
// pods with such a prefix; a key without one says nothing about its pod.
func KeyPod(key string) (string, bool) {
	prefix, _, found := strings.Cut(strings.TrimSpace(key), "-")
	if !found {
		return "", false
	}
	p := strings.ToUpper(prefix)
	if _, ok := podBaseURLs[p]; !ok {
		return "", false
	}
	return p, true
}

package mparticle

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Events API paths, relative to a base URL: a pod's host, the partner endpoint (which
// carries its own /s2s prefix), or Options.BaseURL.
const (
	PathEvents     = "/v2/events"
	PathBulkEvents = "/v2/bulkevents"
	// PathHistorical takes the same payload as PathBulkEvents, for data older than
	// HistoricalAge: the live paths must not carry it (it would disturb audiences).
	PathHistorical = "/v2/bulkevents/historical"
)

// PartnerBaseURL is mParticle's inbound endpoint for partner feeds. It routes each request
// to the pod of its key, so a feed needs no pod setting; it is where a feed goes when it
// names no pod.
const PartnerBaseURL = "https://inbound.mparticle.com/s2s"

// A feed's pod setting: PodPartner (no pod) sends to PartnerBaseURL, which routes by the
// key and is right for almost every feed; a pod's name sends to that pod's own host.
const (
	PodPartner = ""
	PodUS1     = "US1"
	PodUS2     = "US2"
	PodEU1     = "EU1"
	PodAU1     = "AU1"
)

// podBaseURLs maps each pod to its Events API host. This is the one table of pods: the
// client, the Integrations API's input rules and its description all go by it. US1 uses
// the historical host rather than s2s.us1.mparticle.com because every SDK and doc example
// does.
var podBaseURLs = map[string]string{
	PodUS1: "https://s2s.mparticle.com",
	PodUS2: "https://s2s.us2.mparticle.com",
	PodEU1: "https://s2s.eu1.mparticle.com",
	PodAU1: "https://s2s.au1.mparticle.com",
}

// ErrUnknownPod is returned (wrapped) for a pod name that is not a known mParticle pod.
var ErrUnknownPod = errors.New("mparticle: unknown pod")

// Pods returns the known pod names, sorted.
func Pods() []string {
	out := make([]string, 0, len(podBaseURLs))
	for p := range podBaseURLs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// NormalizePod returns the canonical (upper-case) name of pod, or "" (the partner
// endpoint) for an empty one. Matching is case-insensitive because pods are typed by
// people in the Control Center.
func NormalizePod(pod string) (string, error) {
	p := strings.ToUpper(strings.TrimSpace(pod))
	if p == "" {
		return "", nil
	}
	if _, ok := podBaseURLs[p]; !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownPod, pod)
	}
	return p, nil
}

// PodBaseURL returns the Events API base URL a feed with this pod setting sends to: the
// partner endpoint for "", otherwise the pod's host.
func PodBaseURL(pod string) (string, error) {
	p, err := NormalizePod(pod)
	if err != nil {
		return "", err
	}
	if p == "" {
		return PartnerBaseURL, nil
	}
	return podBaseURLs[p], nil
}

// parseBaseURL validates a base URL: absolute http(s), with an optional path prefix (a
// proxy's or the partner endpoint's /s2s) and nothing else. User info is refused because
// credentials in a URL would end up in every transport error message; a query or fragment
// because the API paths are appended to it.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url's errors quote the input, which may hold a password or a token.
		return "", errors.New("mparticle: base URL is not a URL")
	}
	// Messages name the URL by scheme and host only, for the same reason.
	shown := u.Scheme + "://" + u.Host
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("mparticle: base URL on %s: scheme must be http or https", shown)
	}
	if u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("mparticle: base URL on %s: missing host", shown)
	}
	if u.User != nil {
		return "", errors.New("mparticle: base URL must not contain user info")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("mparticle: base URL on %s: no query or fragment allowed", shown)
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	for seg := range strings.SplitSeq(strings.TrimPrefix(prefix, "/"), "/") {
		switch seg {
		case ".", "..":
			return "", fmt.Errorf("mparticle: base URL on %s: dot segments are not allowed in the path", shown)
		case "":
			if prefix != "" {
				return "", fmt.Errorf("mparticle: base URL on %s: empty path segment", shown)
			}
		}
	}
	// The docs print pod hosts as ".../v2"; the client adds /v2 itself, so a base copied
	// from them would send to /v2/v2/... and get 404s.
	if prefix == "/v2" || strings.HasSuffix(prefix, "/v2") {
		return "", fmt.Errorf("mparticle: base URL on %s: leave out /v2, the client adds the API paths", shown)
	}
	return u.Scheme + "://" + u.Host + prefix, nil
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

package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 16 * 1024

// header returns a request header; API Gateway lower-cases names, other callers may not.
func header(req *events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := req.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// checkContentType accepts JSON bodies only (415 otherwise); a charset, if given, must be UTF-8.
func checkContentType(req *events.APIGatewayV2HTTPRequest, allowed ...string) *apiError {
	ct := header(req, "Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mediaType == a && (params["charset"] == "" || strings.EqualFold(params["charset"], "utf-8")) {
				return nil
			}
		}
	}
	return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type",
		"Content-Type must be %s", strings.Join(allowed, " or "))
}

// body returns the decoded request body, refusing bodies over MaxBodyBytes.
func body(req *events.APIGatewayV2HTTPRequest) ([]byte, *apiError) {
	tooLarge := errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "", "request body exceeds %d bytes", MaxBodyBytes)
	if !req.IsBase64Encoded {
		if len(req.Body) > MaxBodyBytes {
			return nil, tooLarge
		}
		return []byte(req.Body), nil
	}
	if base64.StdEncoding.DecodedLen(len(req.Body)) > MaxBodyBytes+3 {
		return nil, tooLarge
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, badRequest(CodeInvalidJSON, "", "request body is not valid base64")
	}
	if len(b) > MaxBodyBytes {
		return nil, tooLarge
	}
	return b, nil
}

// object strictly decodes a JSON object into its members: exactly one object, nothing after it.
func object(b []byte, field string) (map[string]json.RawMessage, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if field == "" {
				return nil, badRequest(CodeInvalidJSON, "", "request body must be a JSON object")
			}
			return nil, badRequest(CodeInvalidType, field, "%s must be an object", field)
		}
		if errors.Is(err, io.EOF) {
			return nil, badRequest(CodeInvalidJSON, "", "request body is required")
		}
		return nil, badRequest(CodeInvalidJSON, field, "request body is not valid JSON")
	}
	if m == nil {
		return nil, badRequest(CodeInvalidType, field, "%s must be an object, not null", nameOr(field, "request body"))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest(CodeInvalidJSON, "", "request body must hold exactly one JSON object")
	}
	return m, nil
}

func nameOr(field, fallback string) string {
	if field == "" {
		return fallback
	}
	return field
}

func sortedNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// readOnly names response members a client might echo back; they are refused with a
// clearer message than other unknown members.
var readOnly = map[string]bool{
	"id": true, "app_id": true, "created_at": true, "updated_at": true, "version": true,
	"status": true, "deprecations": true, "endpoint": true, "created_by": true, "updated_by": true,
}

// decodeInput strictly decodes a create/patch body: unknown members, wrong types and nulls
// (but for pod, where null is the partner endpoint, "") are refused with the member's name.
// An absent member stays nil.
func decodeInput(b []byte) (controlcenter.Input, *apiError) {
	var in controlcenter.Input
	m, aerr := object(b, "")
	if aerr != nil {
		return in, aerr
	}
	for _, name := range sortedNames(m) {
		raw := m[name]
		var aerr *apiError
		switch name {
		case "name":
			in.Name, aerr = decodeString(raw, name)
		case "scope":
			in.Scope, aerr = decodeString(raw, name)
		case "app_platform_id":
			in.AppPlatformID, aerr = decodeString(raw, name)
		case "platform":
			in.Platform, aerr = decodeString(raw, name)
		case "pod":
			if isNull(raw) {
				in.Pod = new(string)
			} else {
				in.Pod, aerr = decodeString(raw, name)
			}
		case "customer_id_source":
			in.CustomerIDSource, aerr = decodeString(raw, name)
		case "sandbox":
			in.Sandbox, aerr = decodeString(raw, name)
		case "missing_customer_id":
			in.MissingCustomerID, aerr = decodeString(raw, name)
		case "enabled":
			in.Enabled, aerr = decodeBool(raw, name)
		case "allow_legacy_scope":
			in.AllowLegacyScope, aerr = decodeBool(raw, name)
		case "events":
			in.Events, aerr = decodeStrings(raw, name)
		case "credentials":
			in.Credentials, aerr = decodeCredentials(raw, name)
		case "sandbox_credentials":
			in.SandboxCredentials, aerr = decodeCredentials(raw, name)
		default:
			if readOnly[name] {
				return in, badRequest(CodeUnknownField, name, "%s is read-only", name)
			}
			return in, badRequest(CodeUnknownField, name, "unknown field %q", name)
		}
		if aerr != nil {
			return in, aerr
		}
	}
	return in, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func decodeString(raw json.RawMessage, field string) (*string, *apiError) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		return nil, badRequest(CodeInvalidType, field, "%s must be a string", field)
	}
	return &s, nil
}

func decodeBool(raw json.RawMessage, field string) (*bool, *apiError) {
	var v bool
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return nil, badRequest(CodeInvalidType, field, "%s must be a boolean", field)
	}
	return &v, nil
}

func decodeStrings(raw json.RawMessage, field string) ([]string, *apiError) {
	var v []string
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return nil, badRequest(CodeInvalidType, field, "%s must be an array of strings", field)
	}
	if v == nil {
		v = []string{}
	}
	return v, nil
}

// decodeCredentials reads a write-only credentials member (member: credentials, or
// sandbox_credentials). The key and the secret are decoded as plain strings, member by
// member, and become feedcreds.Credentials at once, so from here on they never print.
func decodeCredentials(raw json.RawMessage, member string) (*feedcreds.Credentials, *apiError) {
	if isNull(raw) {
		return nil, badRequest(CodeInvalidType, member, "%s must be an object", member)
	}
	m, aerr := object(raw, member)
	if aerr != nil {
		return nil, aerr
	}
	var c feedcreds.Credentials
	for _, name := range sortedNames(m) {
		field := member + "." + name
		var s *string
		switch name {
		case "key", "secret":
			if s, aerr = decodeString(m[name], field); aerr != nil {
				return nil, aerr
			}
		default:
			return nil, badRequest(CodeUnknownField, field, "unknown field %q", field)
		}
		if name == "key" {
			c.Key = *s
		} else {
			c.Secret = *s
		}
	}
	return &c, nil
}

// maxIfMatchLen bounds the If-Match value the API parses. Its own tags are at most 21
// characters, so a longer list is not worth reading; it matches nothing.
const maxIfMatchLen = 1024

// precondition is a request's If-Match field (RFC 9110, section 13.1.1): "*" or a list of
// entity tags. A field that is neither, or too long, is kept as one that matches nothing:
// a client that sent a condition must not see the change made without it.
type precondition struct {
	any  bool
	tags []string // opaque tags of the strong entity tags listed, quotes included
}

// ifMatch reads the If-Match field of a request that requires one. An absent field, or one
// holding no entity tag at all (empty, or only commas and spaces), is 428.
func ifMatch(req *events.APIGatewayV2HTTPRequest) (precondition, *apiError) {
	v := strings.Trim(header(req, "If-Match"), " \t,")
	if v == "" {
		return precondition{}, errorf(http.StatusPreconditionRequired, CodePreconditionRequired, "If-Match",
			`If-Match is required: the integration's ETag as last read (e.g. "3"), or * for whatever version exists`)
	}
	if len(v) > maxIfMatchLen {
		return precondition{}, nil
	}
	if v == "*" {
		return precondition{any: true}, nil
	}
	tags, ok := parseEntityTags(v)
	if !ok {
		return precondition{}, nil
	}
	return precondition{tags: tags}, nil
}

// parseEntityTags parses a list of entity tags (#entity-tag) and returns the strong ones;
// weak tags never match under the strong comparison If-Match uses. ok is false when v is
// not such a list.
func parseEntityTags(v string) (strong []string, ok bool) {
	for rest := v; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return strong, true
		}
		weak := strings.HasPrefix(rest, `W/`)
		if weak {
			rest = rest[2:]
		}
		if !strings.HasPrefix(rest, `"`) {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		tag := rest[:end+2]
		for i := 1; i < len(tag)-1; i++ {
			// etagc = %x21 / %x23-7E / obs-text
			if c := tag[i]; c < 0x21 || c == 0x7f {
				return nil, false
			}
		}
		// Elements are separated by commas, with optional white space around them.
		rest = strings.TrimLeft(rest[len(tag):], " \t")
		if rest != "" && rest[0] != ',' {
			return nil, false
		}
		if !weak {
			strong = append(strong, tag)
		}
	}
}

// Matches evaluates the condition against the integration's current version, with the
// strong comparison RFC 9110 requires for If-Match: "*" matches any integration that exists,
// a tag only the exact current ETag ("01" is not "1").
func (p precondition) Matches(version int64) bool {
	if p.any {
		return true
	}
	return slices.Contains(p.tags, etag(version))
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// query returns the query parameters, from the raw query string when API Gateway gave one.
func query(req *events.APIGatewayV2HTTPRequest) (url.Values, *apiError) {
	if req.RawQueryString != "" {
		q, err := url.ParseQuery(req.RawQueryString)
		if err != nil {
			return nil, badRequest(CodeInvalidParameter, "", "malformed query string")
		}
		return q, nil
	}
	q := url.Values{}
	for k, v := range req.QueryStringParameters {
		q.Set(k, v)
	}
	return q, nil
}

// maxEchoedValueLen bounds a caller-supplied value quoted in a message.
const maxEchoedValueLen = 64

// echo quotes a caller-supplied value for a message, bounded in length.
func echo(s string) string {
	if len(s) > maxEchoedValueLen {
		s = s[:maxEchoedValueLen] + "…"
	}
	return fmt.Sprintf("%q", s)
}

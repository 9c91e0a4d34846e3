package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
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

// credentialsInput is the write-only credentials member.
type credentialsInput struct {
	Key    string
	Secret string
}

// input is a create or patch body: a nil pointer (or nil Events) means "absent".
type input struct {
	Name             *string
	Enabled          *bool
	Scope            *string
	AppPlatformID    *string
	Platform         *string
	Pod              *string
	CustomerIDSource *string
	Events           []string
	Credentials      *credentialsInput
	AllowLegacyScope *bool
}

func (in input) empty() bool {
	return in.Name == nil && in.Enabled == nil && in.Scope == nil && in.AppPlatformID == nil &&
		in.Platform == nil && in.Pod == nil && in.CustomerIDSource == nil && in.Events == nil &&
		in.Credentials == nil && in.AllowLegacyScope == nil
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
	"status": true, "deprecations": true,
}

// decodeInput strictly decodes a create/patch body: unknown members, nulls and wrong types
// are refused with the member's name.
func decodeInput(b []byte) (input, *apiError) {
	var in input
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
			in.Pod, aerr = decodeString(raw, name)
		case "customer_id_source":
			in.CustomerIDSource, aerr = decodeString(raw, name)
		case "enabled":
			in.Enabled, aerr = decodeBool(raw, name)
		case "allow_legacy_scope":
			in.AllowLegacyScope, aerr = decodeBool(raw, name)
		case "events":
			in.Events, aerr = decodeStrings(raw, name)
		case "credentials":
			in.Credentials, aerr = decodeCredentials(raw)
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

func decodeCredentials(raw json.RawMessage) (*credentialsInput, *apiError) {
	if isNull(raw) {
		return nil, badRequest(CodeInvalidType, "credentials", "credentials must be an object")
	}
	m, aerr := object(raw, "credentials")
	if aerr != nil {
		return nil, aerr
	}
	var c credentialsInput
	for _, name := range sortedNames(m) {
		field := "credentials." + name
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

// parseIfMatch reads a strong entity tag of this API ("<version>").
func parseIfMatch(v string) (int64, *apiError) {
	v = strings.TrimSpace(v)
	bad := badRequest(CodeBadRequest, "If-Match", `If-Match must be one entity tag from ETag, e.g. "3"`)
	unq, ok := strings.CutPrefix(v, `"`)
	if !ok {
		return 0, bad
	}
	unq, ok = strings.CutSuffix(unq, `"`)
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseInt(unq, 10, 64)
	if err != nil || n < 1 {
		return 0, bad
	}
	return n, nil
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

package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		spec, specErr = openapi3.NewLoader().LoadFromData(api.Spec)
		if specErr == nil {
			specErr = spec.Validate(context.Background())
		}
	})
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	return spec
}

// operation finds the spec's operation for a concrete method and path.
func operation(doc *openapi3.T, method, path string) (string, *openapi3.Operation) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for tmpl, item := range doc.Paths.Map() {
		tsegs := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		ok := true
		for i := range tsegs {
			if !strings.HasPrefix(tsegs[i], "{") && tsegs[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return tmpl, item.GetOperation(method)
		}
	}
	return "", nil
}

// checkContract holds one response to openapi.yaml: the status is declared for the
// operation, required headers are present and match their schemas, and the body validates
// against the declared schema.
func checkContract(t *testing.T, method, path string, r result) {
	t.Helper()
	doc := loadSpec(t)
	tmpl, op := operation(doc, method, path)
	if op == nil {
		// Paths and methods outside the spec may only be refused.
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed && r.status != http.StatusUnauthorized {
			t.Errorf("%s %s is not in the spec but answered %d", method, path, r.status)
		}
		if tmpl != "" && r.status == http.StatusMethodNotAllowed && r.headers.Get("Allow") == "" {
			t.Errorf("405 without Allow header")
		}
		return
	}
	ref := op.Responses.Status(r.status)
	if ref == nil || ref.Value == nil {
		t.Errorf("%s %s answered %d, which the spec does not declare for %s", method, path, r.status, op.OperationID)
		return
	}
	resp := ref.Value
	for name, h := range resp.Headers {
		v := r.headers.Get(name)
		if v == "" {
			if h.Value.Required {
				t.Errorf("%s %s %d: required header %s missing", method, path, r.status, name)
			}
			continue
		}
		if s := h.Value.Schema; s != nil {
			if err := s.Value.VisitJSON(v); err != nil {
				t.Errorf("%s %s %d: header %s=%q: %v", method, path, r.status, name, v, err)
			}
		}
	}
	if len(resp.Content) == 0 {
		if len(r.body) != 0 {
			t.Errorf("%s %s %d: body %q where the spec declares none", method, path, r.status, r.body)
		}
		return
	}
	if ct := r.headers.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s %d: Content-Type %q", method, path, r.status, ct)
	}
	media := resp.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		t.Errorf("%s %s %d: spec has no JSON schema", method, path, r.status)
		return
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Errorf("%s %s %d: body is not JSON: %v", method, path, r.status, err)
		return
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
		t.Errorf("%s %s %d: body does not match the spec: %v\nbody: %s", method, path, r.status, err, r.body)
	}
}

// validRequest checks that a body the tests treat as valid is valid per the spec too.
func validRequest(t *testing.T, method, path, body string) {
	t.Helper()
	if err := specRequestError(t, method, path, body); err != nil {
		t.Fatalf("request body the tests send as valid is invalid per the spec: %v", err)
	}
}

// TestEverySpecOperationIsServed calls each operation of the spec and checks that the
// handler routes it (no 404 for the route itself, no 405) and answers a declared status.
func TestEverySpecOperationIsServed(t *testing.T) {
	doc := loadSpec(t)
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	id, _, _ := e.create(viaEvent, app, tok, nil)
	body, _, _ := e.createBody(nil)

	type op struct{ tmpl, method string }
	var ops []op
	for tmpl, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, op{tmpl, method})
		}
	}
	// DELETE last, so the other operations find the integration.
	slices.SortFunc(ops, func(a, b op) int {
		if (a.method == http.MethodDelete) != (b.method == http.MethodDelete) {
			if a.method == http.MethodDelete {
				return 1
			}
			return -1
		}
		return strings.Compare(a.tmpl+a.method, b.tmpl+b.method)
	})
	if len(ops) != 7 {
		t.Fatalf("spec has %d operations, want 7", len(ops))
	}
	for _, o := range ops {
		path := strings.NewReplacer("{app_id}", app, "{id}", id).Replace(o.tmpl)
		c := call{method: o.method, path: path, token: tok}
		switch o.method {
		case http.MethodPost:
			if doc.Paths.Value(o.tmpl).Post.RequestBody == nil { // the test route takes none
				break
			}
			c.body = body
			validRequest(t, o.method, path, body)
		case http.MethodPatch:
			c.body = `{"name":"renamed"}`
			validRequest(t, o.method, path, c.body)
		}
		for i, tr := range transports {
			switch o.method {
			case http.MethodPatch:
				c.headers = ifMatch(fmt.Sprintf(`"%d"`, i+1))
			case http.MethodDelete:
				c.headers = ifMatch("*")
			}
			r := e.do(tr, c)
			// An integration is tested once per 10 s: the second transport's test is 429.
			retest := strings.HasSuffix(o.tmpl, "/test") && i > 0 && r.status == http.StatusTooManyRequests
			if r.status == http.StatusMethodNotAllowed || r.status >= 400 && !retest && !(o.method == http.MethodDelete && i > 0 && r.status == http.StatusNotFound) {
				t.Errorf("%s %s over %s: %d %s", o.method, o.tmpl, tr, r.status, r.body)
			}
		}
	}
}

// TestSpecDocumentsTheRules keeps the spec's numbers in step with the code's.
func TestSpecDocumentsTheRules(t *testing.T) {
	doc := loadSpec(t)
	s := doc.Components.Schemas
	if got := s["Name"].Value.MaxLength; got == nil || *got != controlcenter.MaxNameRunes {
		t.Errorf("Name.maxLength = %v, want %d", got, controlcenter.MaxNameRunes)
	}
	cred := s["CredentialsInput"].Value.Properties["key"].Value
	if cred.MinLength != controlcenter.MinCredentialLen || cred.MaxLength == nil || *cred.MaxLength != controlcenter.MaxCredentialLen {
		t.Errorf("credential length bounds %d..%v", cred.MinLength, cred.MaxLength)
	}
	var enum []string
	for _, v := range s["EventType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	var got []string
	for _, t := range event.AllTypes {
		got = append(got, string(t))
	}
	if !slices.Equal(enum, got) {
		t.Errorf("EventType enum %v, want %v", enum, got)
	}
	var codes []string
	for _, v := range s["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum {
		codes = append(codes, v.(string))
	}
	for _, c := range api.ErrorCodes {
		if !slices.Contains(codes, c) {
			t.Errorf("error code %q missing from the spec", c)
		}
	}
	limit := doc.Paths.Find("/v1/apps/{app_id}/integrations/mparticle").Get.Parameters.GetByInAndName("query", "limit").Schema.Value
	if limit.Max == nil || int(*limit.Max) != controlcenter.MaxPageSize || limit.Default != float64(api.DefaultLimit) {
		t.Errorf("limit schema max %v default %v", limit.Max, limit.Default)
	}
	if got := s["Cursor"].Value.Pattern; got != integrationstore.CursorPattern {
		t.Errorf("Cursor pattern %q, want integrationstore.CursorPattern %q", got, integrationstore.CursorPattern)
	}

	// The pods are the mparticle package's, in its order.
	var caseless []string
	for _, p := range mparticle.Pods() {
		var b strings.Builder
		for _, c := range p {
			if unicode.IsLetter(c) {
				fmt.Fprintf(&b, "[%c%c]", c, unicode.ToLower(c))
			} else {
				b.WriteRune(c)
			}
		}
		caseless = append(caseless, b.String())
	}
	if got, want := s["PodInput"].Value.Pattern, "^("+strings.Join(caseless, "|")+")?$"; got != want {
		t.Errorf("PodInput pattern %q, want %q", got, want)
	}
	want := []any{}
	for _, p := range mparticle.Pods() {
		want = append(want, p)
	}
	if got := s["Pod"].Value.Enum; fmt.Sprint(got) != fmt.Sprint(append(want, nil)) || !s["Pod"].Value.Nullable {
		t.Errorf("Pod enum %v, want %v and null", got, want)
	}
	if got := fmt.Sprint(s["Endpoint"].Value.Enum); got != fmt.Sprint([]string{api.EndpointPartner, api.EndpointPod}) {
		t.Errorf("Endpoint enum %s", got)
	}

	// Both writes require If-Match.
	item := doc.Paths.Find("/v1/apps/{app_id}/integrations/mparticle/{id}")
	for method, op := range map[string]*openapi3.Operation{"PATCH": item.Patch, "DELETE": item.Delete} {
		p := op.Parameters.GetByInAndName("header", "If-Match")
		if p == nil || !p.Required || op.Responses.Status(412) == nil || op.Responses.Status(428) == nil {
			t.Errorf("%s: If-Match not required, or 412/428 not declared", method)
		}
	}
}

// TestSpecStatesTheInputRules holds the schema patterns of name and pod to the service's
// own checks, on the values where they could part: every kind of white space and control
// character, letter case, and look-alike letters.
func TestSpecStatesTheInputRules(t *testing.T) {
	doc := loadSpec(t)
	name := doc.Components.Schemas["Name"].Value
	names := []string{"a", " a ", "a b", "", " ", "é", "\u00a0", "\u3000", "\u00a0x", "x\u3000", "\u200b", "\ufeff", "\ufeffx",
		"\u0085", "a\u0085", "\u00ad", "\U0001F600", strings.Repeat("x", 100), strings.Repeat("x", 101), " " + strings.Repeat("x", 99)}
	for r := rune(0); r <= 0x3000; r++ {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == 0xa0 || r == 0xa1 {
			names = append(names, string(r), "a"+string(r), string(r)+"a")
		}
	}
	// Every format character (Cf), and its neighbours, which are not.
	for _, rt := range unicode.Cf.R16 {
		for r := rune(rt.Lo); r <= rune(rt.Hi); r += rune(rt.Stride) {
			names = append(names, string(r), "a"+string(r)+"b", string(r-1)+"a", "a"+string(r+1))
		}
	}
	for _, rt := range unicode.Cf.R32 {
		for r := rune(rt.Lo); r <= rune(rt.Hi); r += rune(rt.Stride) {
			names = append(names, string(r), "a"+string(r)+"b", string(r-1)+"a", "a"+string(r+1))
		}
	}
	for _, n := range names {
		_, aerr := controlcenter.ValidatePatch(controlcenter.Input{Name: &n})
		if specErr := name.VisitJSON(n); (specErr == nil) != (aerr == nil) {
			t.Errorf("name %+q: spec says %v, API says %v", n, specErr, aerr)
		}
	}
	pod := doc.Components.Schemas["PodInput"].Value
	for _, p := range []string{"", "US1", "us1", "uS2", "Eu1", "au1", "US3", "US", "US11", " US1", "US1 ", "u\u017f1", "\u0130u1", "EU1\n", "us-1"} {
		_, perr := controlcenter.ValidatePatch(controlcenter.Input{Pod: &p})
		ok := perr == nil
		if specErr := pod.VisitJSON(p); (specErr == nil) != ok {
			t.Errorf("pod %+q: spec says %v, API accepts %v", p, specErr, ok)
		}
	}
	if err := pod.VisitJSON(nil); err != nil {
		t.Errorf("pod null refused by the spec: %v", err)
	}
}

// specRequestError validates a request body against the operation's schema in
// openapi.yaml: nil when the spec accepts it.
func specRequestError(t *testing.T, method, path, body string) error {
	t.Helper()
	_, op := operation(loadSpec(t), method, path)
	if op == nil || op.RequestBody == nil {
		t.Fatalf("no request body in the spec for %s %s", method, path)
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	return schema.VisitJSON(v, openapi3.VisitAsRequest(), openapi3.EnableFormatValidation())
}

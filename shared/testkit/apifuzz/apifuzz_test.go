package apifuzz

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/namiml/mparticle-bridge/shared/api"
)

const planted = "pl4nted-s3cret-value"

// echoAPI answers with a fixed status and a body built from the request.
func echoAPI(status int, body func(req string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body(string(b)))
	})
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		reqBody   string
		respond   func(string) string
		wantLeaks []string
		want5xx   int
	}{
		{"clean", 200, `{"name":"x"}`, func(string) string { return `{"id":"1","credentials":{"key_hint":"abcd"}}` }, nil, 0},
		{"planted secret", 200, ``, func(string) string { return `{"note":"` + planted + `"}` }, []string{"GET /p: other app secret"}, 0},
		{"planted secret escaped by the encoder", 200, ``, func(string) string {
			return `{"note":"` + strings.ReplaceAll(planted, "-", `\u002d`) + `"}`
		}, []string{"GET /p: other app secret"}, 0},
		{"server error", 503, ``, func(string) string { return `{}` }, nil, 1},
		{"own secret echoed", 400, `{"name":"n","credentials":{"key":"k3y-abcdefgh","secret":"s3cr-et-xyzw"}}`,
			func(string) string { return `{"error":{"message":"bad secret s3cr-et-xyzw"}}` },
			[]string{"GET /p: request's own credentials.secret echoed"}, 0},
		{"own key echoed", 201, `{"credentials":{"key":"k3y-abcdefgh","secret":"s3cr-et-xyzw"}}`,
			func(string) string { return `{"credentials":{"key":"k3y-abcdefgh"}}` },
			[]string{"GET /p: request's own credentials.key echoed"}, 0},
		{"same string sent as the name too", 201, `{"name":"s3cr-et-xyzw","credentials":{"key":"k3y-abcdefgh","secret":"s3cr-et-xyzw"}}`,
			func(string) string { return `{"name":"s3cr-et-xyzw"}` }, nil, 0},
		{"fuzzer's trivial secret", 201, `{"credentials":{"key":"00000000","secret":"00000000"}}`,
			func(string) string { return `{"id":"0190a000-0000-7000-8000-000000000000"}` }, nil, 0},
		{"key hint only", 201, `{"credentials":{"key":"k3y-abcdefgh","secret":"s3cr-et-xyzw"}}`,
			func(string) string { return `{"credentials":{"key_hint":"efgh"}}` }, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScanner(echoAPI(tc.status, tc.respond), map[string]string{"other app secret": planted, "empty": ""})
			s.SetActive(true)
			srv := httptest.NewServer(s)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/p", strings.NewReader(tc.reqBody))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(body) != tc.respond(tc.reqBody) {
				t.Errorf("scanner altered the response: %d %s", resp.StatusCode, body)
			}
			f := s.Findings()
			if strings.Join(f.Leaks, "|") != strings.Join(tc.wantLeaks, "|") {
				t.Errorf("leaks %q, want %q", f.Leaks, tc.wantLeaks)
			}
			if len(f.ServerErrors) != tc.want5xx || f.Requests != 1 || f.ByStatus[tc.status] != 1 {
				t.Errorf("findings %+v", f)
			}
			for _, l := range f.Leaks {
				if strings.Contains(l, planted) || strings.Contains(l, "s3cr-et") {
					t.Errorf("a finding repeats the secret: %q", l)
				}
			}
		})
	}
}

func TestScannerHeaderLeakAndInactive(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Debug", "token="+planted)
		w.WriteHeader(500)
	})
	s := NewScanner(next, nil)
	s.Forbid("planted", planted)
	s.Forbid("ignored", "")
	s.Watch("x path", "/x")
	s.Watch("y path", "/y")
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func() {
		resp, err := http.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get() // inactive: not recorded
	if f := s.Findings(); f.Requests != 0 {
		t.Fatalf("recorded while inactive: %+v", f)
	}
	s.SetActive(true)
	get()
	f := s.Findings()
	if len(f.Leaks) != 1 || !strings.Contains(f.Leaks[0], "header X-Debug") || len(f.ServerErrors) != 1 {
		t.Errorf("findings %+v", f)
	}
	if f.Probes["x path"] != 1 || f.Probes["y path"] != 0 || len(f.Probes) != 2 {
		t.Errorf("probes %v, want x path 1 and y path 0", f.Probes)
	}
}

func TestDeriveSpec(t *testing.T) {
	out, err := DeriveSpec(api.Spec, "http://127.0.0.1:1234", map[string][]string{
		"app_id": {"app-a", "app-b"},
		"id":     {"int-a", "int-b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
		Paths      map[string]any `yaml:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name     string `yaml:"name"`
				Examples map[string]struct {
					Value string `yaml:"value"`
				} `yaml:"examples"`
			} `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "http://127.0.0.1:1234" {
		t.Errorf("servers %+v", doc.Servers)
	}
	got := map[string][]string{}
	for _, p := range doc.Components.Parameters {
		for _, ex := range p.Examples {
			got[p.Name] = append(got[p.Name], ex.Value)
		}
	}
	for name, want := range map[string]string{"app_id": "app-a app-b", "id": "int-a int-b"} {
		vals := got[name]
		if len(vals) != 2 || !strings.Contains(want, vals[0]) || !strings.Contains(want, vals[1]) || vals[0] == vals[1] {
			t.Errorf("%s examples %v, want %s", name, vals, want)
		}
	}
	var orig struct {
		Paths map[string]any `yaml:"paths"`
	}
	_ = yaml.Unmarshal(api.Spec, &orig)
	if len(doc.Paths) != len(orig.Paths) || len(doc.Paths) == 0 {
		t.Errorf("paths changed: %d, want %d", len(doc.Paths), len(orig.Paths))
	}

	if _, err := DeriveSpec(api.Spec, "http://x", map[string][]string{"no_such_param": {"v"}}); err == nil {
		t.Error("unknown parameter accepted")
	}
	if _, err := DeriveSpec([]byte("[unclosed"), "http://x", nil); err == nil {
		t.Error("broken YAML accepted")
	}
}

package sqsin

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		bodies  []string
		groups  []string
		wantErr error
	}{
		{"bare event is compacted", "{\n  \"id\": \"e1\",\n  \"app_id\": \"app\"\n}", []string{`{"id":"e1","app_id":"app"}`}, []string{"app"}, nil},
		{"array of events", `[{"app_id":"a"},{"app_id":"b"}]`, []string{`{"app_id":"a"}`, `{"app_id":"b"}`}, []string{"a", "b"}, nil},
		{"SQS event keeps bodies and groups", `{"Records":[{"body":"{\"app_id\":\"x\"}","attributes":{"MessageGroupId":"g"}},{"body":"raw"}]}`,
			[]string{`{"app_id":"x"}`, "raw"}, []string{"g", ""}, nil},
		{"not JSON is sent as is", "hello", []string{"hello"}, []string{""}, nil},
		{"API Gateway event is refused", `{"version":"2.0","requestContext":{}}`, nil, nil, ErrAPIEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := Parse([]byte(tt.in), "f")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var bodies, groups []string
			for _, m := range msgs {
				bodies, groups = append(bodies, m.Body), append(groups, m.GroupID)
			}
			if !slices.Equal(bodies, tt.bodies) || !slices.Equal(groups, tt.groups) {
				t.Errorf("bodies %q groups %q, want %q %q", bodies, groups, tt.bodies, tt.groups)
			}
		})
	}
}

func TestLoadFolderSkipsAPIEvents(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.json":     `{"app_id":"a"}`,
		"api-x.json": `{"requestContext":{}}`,
		"notes.txt":  "ignored",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs, skipped, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].GroupID != "a" || len(skipped) != 1 {
		t.Errorf("msgs %+v skipped %v", msgs, skipped)
	}
	if _, _, err := Load(filepath.Join(dir, "api-x.json")); !errors.Is(err, ErrAPIEvent) {
		t.Errorf("a single API event file: %v, want ErrAPIEvent", err)
	}
}

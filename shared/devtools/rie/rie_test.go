package rie

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/devtools/repo"
)

// The Makefile installs the emulator; it must install the version pinned here.
func TestMakefilePinsTheSameVersion(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "RIE_VERSION := "+Version+"\n") {
		t.Errorf("Makefile does not pin RIE_VERSION := %s", Version)
	}
}

func TestResponseErr(t *testing.T) {
	tests := []struct {
		name    string
		r       Response
		wantErr string
	}{
		{"success", Response{200, []byte(`{"batchItemFailures":[]}`)}, ""},
		{"handler error comes as 200", Response{200, []byte(`{"errorMessage":"boom","errorType":"errorString"}`)}, "boom"},
		{"crash is 502", Response{502, []byte(`{"errorType":"Runtime.ExitError"}`)}, "HTTP 502"},
		{"timeout is plain text", Response{200, []byte(`Task timed out after 3.00 seconds`)}, "non-JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Err()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Err() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Err() = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

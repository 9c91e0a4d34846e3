package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFeeds(t *testing.T) {
	tests := []struct {
		in      string
		want    []feedFlag
		wantErr bool
	}{
		{"", nil, false},
		{"k1:s1", []feedFlag{{"k1", "s1", "feed-1"}}, false},
		{"k1:s1:ios, k2:s:2:x", []feedFlag{{"k1", "s1", "ios"}, {"k2", "s", "2:x"}}, false},
		{"k1:s1,,k3:s3:", []feedFlag{{"k1", "s1", "feed-1"}, {"k3", "s3", "feed-3"}}, false},
		{"k1:topsecret,k2", nil, true},
		{"k1:", nil, true},
		{":s1", nil, true},
	}
	for _, tt := range tests {
		got, err := parseFeeds(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("feeds %d: err %v", len(tt.in), err)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Error("error echoes a secret")
		}
		if !slices.Equal(got, tt.want) {
			// Keys and names only: secrets stay out of test output.
			t.Errorf("case %q: got %q, want %q", tt.in[:min(len(tt.in), 2)], keysNames(got), keysNames(tt.want))
		}
	}
}

func keysNames(fs []feedFlag) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.key+"/"+f.name)
	}
	return out
}

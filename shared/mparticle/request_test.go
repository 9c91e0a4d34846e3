package mparticle

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// encOfSizes makes fake encoded batches of the given byte lengths.
func encOfSizes(sizes ...int) ([][]byte, []int) {
	enc := make([][]byte, len(sizes))
	idx := make([]int, len(sizes))
	for i, n := range sizes {
		enc[i] = make([]byte, n)
		idx[i] = i
	}
	return enc, idx
}

func TestPlanRequests(t *testing.T) {
	half := (MaxRequestBytes - 3) / 2 // two of these plus "[", ",", "]" is one byte under the limit
	tests := []struct {
		name  string
		sizes []int
		want  []int // batches per request
	}{
		{name: "none", sizes: nil, want: nil},
		{name: "body one byte under the limit fits", sizes: []int{half, MaxRequestBytes - 3 - half - 1}, want: []int{2}},
		{name: "body exactly at the limit splits", sizes: []int{half, MaxRequestBytes - 3 - half}, want: []int{1, 1}},
		{name: "max size batches pair up", sizes: []int{MaxBatchBytes, MaxBatchBytes, MaxBatchBytes}, want: []int{1, 1, 1}},
		{name: "count limit", sizes: slices.Repeat([]int{10}, 201), want: []int{100, 100, 1}},
		{name: "size then count", sizes: append([]int{MaxBatchBytes, MaxBatchBytes}, slices.Repeat([]int{10}, 100)...), want: []int{1, 1 + 99, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, idx := encOfSizes(tt.sizes...)
			groups := planRequests(enc, idx)
			var got []int
			var order []int
			for _, g := range groups {
				got = append(got, len(g))
				order = append(order, g...)
				if n := len(joinBodies(enc, g)); n >= MaxRequestBytes {
					t.Errorf("group body %d bytes, want < %d", n, MaxRequestBytes)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("groups = %v, want %v", got, tt.want)
			}
			if !slices.Equal(order, idx) && len(idx) > 0 {
				t.Errorf("batches regrouped out of order: %v", order)
			}
		})
	}
}

func TestJoinBodies(t *testing.T) {
	enc := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`), []byte(`{"c":3}`)}
	tests := []struct {
		idx  []int
		want string
	}{
		{[]int{0}, `[{"a":1}]`},
		{[]int{0, 2}, `[{"a":1},{"c":3}]`},
		{[]int{2, 1, 0}, `[{"c":3},{"b":2},{"a":1}]`},
	}
	for _, tt := range tests {
		got := joinBodies(enc, tt.idx)
		if string(got) != tt.want || !json.Valid(got) {
			t.Errorf("joinBodies(%v) = %s, want %s", tt.idx, got, tt.want)
		}
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       string
		tooLarge   bool
	}{
		{name: "api shape", status: 400, body: `{"errors":[{"code":"BAD_REQUEST","message":"Required event field \"event_type\" is missing or empty."}]}`,
			want: `mparticle: HTTP 400 Bad Request: BAD_REQUEST: Required event field "event_type" is missing or empty.`},
		{name: "message only", status: 400, body: `{"errors":[{"message":"nope"}]}`, want: "mparticle: HTTP 400 Bad Request: nope"},
		{name: "plain text", status: 502, body: "upstream down\n", want: "mparticle: HTTP 502 Bad Gateway: upstream down"},
		{name: "413", status: 413, body: "", want: "mparticle: HTTP 413 Request Entity Too Large", tooLarge: true},
		{name: "long message truncated", status: 400, body: `{"errors":[{"code":"X","message":"` + strings.Repeat("é", 400) + `"}]}`,
			want: "mparticle: HTTP 400 Bad Request: X: " + strings.Repeat("é", maxDetailLen/2) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPIError(tt.status, strings.NewReader(tt.body))
			if got := e.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := errors.Is(e, ErrBatchTooLarge); got != tt.tooLarge {
				t.Errorf("errors.Is(ErrBatchTooLarge) = %v, want %v", got, tt.tooLarge)
			}
		})
	}
}

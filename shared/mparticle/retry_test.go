package mparticle

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		want   class
	}{
		{200, classOK}, {202, classOK}, {204, classOK},
		{400, classSplit}, {413, classSplit},
		{401, classAuth}, {403, classAuth},
		{429, classRetry}, {408, classRetry}, {500, classRetry}, {502, classRetry}, {503, classRetry}, {504, classRetry},
		{300, classRedirect}, {301, classRedirect}, {302, classRedirect}, {304, classRedirect}, {307, classRedirect}, {308, classRedirect},
		{404, classPermanent}, {405, classPermanent}, {409, classPermanent}, {422, classPermanent},
	}
	for _, tt := range tests {
		if got := classify(tt.status); got != tt.want {
			t.Errorf("classify(%d) = %d, want %d", tt.status, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"99999999999999", maxHeaderDelay, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true}, // RFC 850, still valid input
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), maxHeaderDelay, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParsePercentUsed(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", -1}, {"0", 0}, {"42", 42}, {" 100 ", 100}, {"87.6", 88}, {"55%", 55},
		{"101", -1}, {"-1", -1}, {"NaN", -1}, {"lots", -1},
	}
	for _, tt := range tests {
		if got := parsePercentUsed(tt.in); got != tt.want {
			t.Errorf("parsePercentUsed(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name      string
		base, max time.Duration
		rand      float64
		attempt   int
		want      time.Duration
	}{
		{"first", 100 * time.Millisecond, 5 * time.Second, 0.5, 1, 50 * time.Millisecond},
		{"third doubles twice", 100 * time.Millisecond, 5 * time.Second, 0.5, 3, 200 * time.Millisecond},
		{"capped", 100 * time.Millisecond, 5 * time.Second, 0.5, 10, 2500 * time.Millisecond},
		{"no overflow at huge attempts", 100 * time.Millisecond, 5 * time.Second, 0.5, 200, 2500 * time.Millisecond},
		{"jitter low end", 100 * time.Millisecond, 5 * time.Second, 0, 3, 0},
		{"jitter high end", 100 * time.Millisecond, 5 * time.Second, 0.999, 2, 199800 * time.Microsecond},
		{"out-of-range rand treated as 0", 100 * time.Millisecond, 5 * time.Second, 1.5, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{BaseBackoff: tt.base, MaxBackoff: tt.max, Rand: func() float64 { return tt.rand }})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.backoff(tt.attempt); got != tt.want {
				t.Errorf("backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

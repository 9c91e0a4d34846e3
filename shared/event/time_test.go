package event

import (
	"testing"
	"time"
)

// TestDaysSinceEpoch: parseRFC3339's day count is time.Date's for every day of years 0 to
// 9999 (with -short, every day of each fourth century around the usual years).
func TestDaysSinceEpoch(t *testing.T) {
	from, to := 0, 9999
	if testing.Short() {
		from, to = 1900, 2400
	}
	for y := from; y <= to; y++ {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= daysIn(m, y); d++ {
				// Midnight UTC: a whole number of days from the epoch.
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix()
				if got := daysSinceEpoch(y, m, d); got*86400 != want {
					t.Fatalf("daysSinceEpoch(%d, %d, %d) = %d days, want %d s", y, m, d, got, want)
				}
			}
		}
	}
}

package deliverystore

import "time"

// The conformance suite runs the stores on its own clock.

func SetStoreClock(s *Store, now func() time.Time) { s.now = now }

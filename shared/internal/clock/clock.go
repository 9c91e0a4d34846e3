// Package clock holds the wait shared by the mParticle client's retries and the forwarder's
// pacing: a sleep that ends early when its context does.
package clock

import (
	"context"
	"time"
)

// Sleep waits d or until ctx is done, whichever comes first; it returns ctx's error in the
// second case. A d of zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

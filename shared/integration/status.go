package integration

import "time"

// DeliveryStatus is what the Forwarder did for one integration: counts of its deliveries and
// the latest success and failure. The Forwarder adds one per invocation (the counts of that
// invocation); the Control Center shows the sum over the last 24 hours.
type DeliveryStatus struct {
	Delivered, Retried, DeadLettered, Skipped int
	LastDeliveryAt                            time.Time // zero: none
	LastFailureAt                             time.Time // zero: none
	// LastFailureCode is one of the Failure* codes; LastFailureMessage a fixed sentence for
	// it (never a value from an event, a key or a secret).
	LastFailureCode, LastFailureMessage string
}

// The codes of DeliveryStatus.LastFailureCode.
const (
	FailureRejected           = "rejected"            // mParticle refused a batch for good (4xx): dead-lettered
	FailureCredentialsRefused = "credentials_refused" // mParticle refused the key and secret (401/403)
	FailureMisdirected        = "misdirected"         // mParticle redirected: the pod or endpoint is wrong
	FailureRetry              = "retry"               // a transient failure (5xx, 429, network): retried later
)

// Empty reports whether the status holds nothing to record.
func (s DeliveryStatus) Empty() bool {
	return s.Delivered == 0 && s.Retried == 0 && s.DeadLettered == 0 && s.Skipped == 0 &&
		s.LastDeliveryAt.IsZero() && s.LastFailureAt.IsZero()
}

// Merge adds o's counts to s and keeps the later of each last value.
func (s DeliveryStatus) Merge(o DeliveryStatus) DeliveryStatus {
	s.Delivered += o.Delivered
	s.Retried += o.Retried
	s.DeadLettered += o.DeadLettered
	s.Skipped += o.Skipped
	if o.LastDeliveryAt.After(s.LastDeliveryAt) {
		s.LastDeliveryAt = o.LastDeliveryAt
	}
	if o.LastFailureAt.After(s.LastFailureAt) {
		s.LastFailureAt, s.LastFailureCode, s.LastFailureMessage = o.LastFailureAt, o.LastFailureCode, o.LastFailureMessage
	}
	return s
}

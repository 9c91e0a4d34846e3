package forwarder

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// RecordPolicy says which delivery records (idempotency, Deliveries) the handler reads and
// writes. The records exist so that a message SQS hands out again does not re-send the
// deliveries an earlier receive already made; mParticle's deduplication by the batches'
// deterministic source_request_id stands behind them whatever the policy. The policies
// differ in how much they lean on that second line, and in DynamoDB cost (README,
// "Delivery records").
type RecordPolicy string

// The record policies.
const (
	// RecordsRetries (the default): write a record only for a confirmed delivery whose
	// message is handed back (retried, or dead-lettered: a letter can be replayed), since
	// that message will come back and must skip what was sent; read records only for
	// messages received before (ApproximateReceiveCount above 1) or replayed from the
	// dead-letter queue. A message acknowledged in full comes back only if the invocation
	// dies after its upload; its re-send carries the same source_request_id.
	RecordsRetries RecordPolicy = "retries"
	// RecordsAll: read every message's deliveries, write every confirmed delivery as soon
	// as mParticle confirms it (the behaviour before the policies existed).
	RecordsAll RecordPolicy = "all"
	// RecordsOff: never read or write records; every re-send reaches mParticle, which
	// deduplicates it by source_request_id.
	RecordsOff RecordPolicy = "off"
)

// RecordPolicies lists the valid policies, the default first.
var RecordPolicies = []RecordPolicy{RecordsRetries, RecordsAll, RecordsOff}

// ParseRecordPolicy reads a policy name; empty is the default, RecordsRetries.
func ParseRecordPolicy(s string) (RecordPolicy, error) {
	switch p := RecordPolicy(s); p {
	case "":
		return RecordsRetries, nil
	case RecordsRetries, RecordsAll, RecordsOff:
		return p, nil
	}
	return "", fmt.Errorf("delivery record policy %q: want %s, %s or %s", s, RecordsRetries, RecordsAll, RecordsOff)
}

// deliveries is the delivery-record store the policy uses, nil for none.
func (h *Handler) deliveries() Deliveries {
	if h.cfg.Records == RecordsOff {
		return nil
	}
	return h.deps.Deliveries
}

// mayHaveRecords reports whether a message's deliveries are looked up before sending: under
// RecordsRetries, only a message an earlier receive may have served in part.
func (h *Handler) mayHaveRecords(r *record) bool {
	return h.cfg.Records == RecordsAll || r.seenBefore
}

// seenBefore reports whether a message may have been received before: its receive count
// is above 1, or it is a letter the forwarder wrote, replayed from the dead-letter queue
// (it keeps its attributes and may start its count again). A missing or unreadable count
// counts as seen: a needless lookup costs one read, a skipped one may re-send deliveries
// already made.
func seenBefore(m events.SQSMessage) bool {
	if _, replayed := m.MessageAttributes[AttrFailureKind]; replayed {
		return true
	}
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	return err != nil || n != 1
}

package transform

import (
	"crypto/sha1"

	"github.com/google/uuid"
)

// Namespace is the project's fixed UUID v5 namespace for the ids it derives. Changing it
// would defeat mParticle's deduplication of events redelivered across the change.
var Namespace = uuid.MustParse("a07ec606-4e01-4765-a5c7-5f87414a972e")

// SourceMessageID is the event's source_message_id: UUID v5 of the event id, so every batch
// made from one event (one per integration, and again on redelivery) carries the same id.
func SourceMessageID(eventID string) string { return v5(eventID, "", false) }

// SourceRequestID is a batch's source_request_id: UUID v5 of (event id, integration id), so a
// redelivered event gives the same id per integration and mParticle (which deduplicates on it
// per API key) drops the repeat. The name is eventID + NUL + integrationID: an event id (a
// UUID) holds no NUL, so distinct pairs never share a name.
func SourceRequestID(eventID, integrationID string) string {
	return v5(eventID, integrationID, true)
}

// v5 is uuid.NewSHA1(Namespace, name) without its per-call hash and slice allocations.
func v5(eventID, integrationID string, pair bool) string {
	var stack [16 + 2*256 + 1]byte
	buf := append(stack[:0], Namespace[:]...)
	buf = append(buf, eventID...)
	if pair {
		buf = append(buf, 0)
		buf = append(buf, integrationID...)
	}
	sum := sha1.Sum(buf)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

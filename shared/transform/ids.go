package transform

import (
	"crypto/sha1"
	"encoding"
	"encoding/binary"
	"hash"
	"sync"
	"unsafe"

	"github.com/google/uuid"
)

// Namespace is the project's fixed UUID v5 namespace for the ids it derives. Changing it
// would defeat mParticle's deduplication of events redelivered across the change.
var Namespace = uuid.MustParse("a07ec606-4e01-4765-a5c7-5f87414a972e")

// SourceMessageID is the event's source_message_id: UUID v5 of the event id, so every batch
// made from one event (one per integration, and again on redelivery) carries the same id.
func SourceMessageID(eventID string) string {
	var buf [uuidLen]byte
	return string(appendV5(buf[:0], eventID, "", false))
}

// SourceRequestID is a batch's source_request_id: UUID v5 of (event id, integration id), so a
// redelivered event gives the same id per integration and mParticle (which deduplicates on it
// per API key) drops the repeat. The name is eventID + NUL + integrationID: an event id (a
// UUID) holds no NUL, so distinct pairs never share a name.
func SourceRequestID(eventID, integrationID string) string {
	var buf [uuidLen]byte
	return string(appendV5(buf[:0], eventID, integrationID, true))
}

const uuidLen = 36

// idPairLen is the text of a batch's two ids: source_request_id then source_message_id.
const idPairLen = 2 * uuidLen

// batchIDs returns SourceRequestID(eventID, integrationID) and SourceMessageID(eventID), their
// text written into buf, which must not change afterwards: the strings are buf's bytes, not a
// copy, so that a batch's ids cost no allocation of their own. h hashes the names; nil takes
// one from a pool.
func batchIDs(buf *[idPairLen]byte, h *idHasher, eventID, integrationID string) (request, message string) {
	if h == nil {
		h = hasherPool.Get().(*idHasher)
		defer hasherPool.Put(h)
	}
	h.v5(buf[:uuidLen], eventID, integrationID, true)
	h.v5(buf[uuidLen:], eventID, "", false)
	return unsafe.String(&buf[0], uuidLen), unsafe.String(&buf[uuidLen], uuidLen)
}

var hasherPool = sync.Pool{New: func() any { return new(idHasher) }}

// appendV5 appends the text of uuid.NewSHA1(Namespace, name) to dst, name being eventID, or
// eventID + NUL + integrationID when pair: the reference the faster idHasher is tested
// against, and what the exported functions use.
func appendV5(dst []byte, eventID, integrationID string, pair bool) []byte {
	// Room for the usual ids (UUIDs, short integration ids) on the stack; append moves a
	// longer name to the heap.
	var stack [128]byte
	buf := append(stack[:0], Namespace[:]...)
	buf = append(buf, eventID...)
	if pair {
		buf = append(buf, 0)
		buf = append(buf, integrationID...)
	}
	sum := sha1.Sum(buf)
	var text [uuidLen]byte
	formatV5(&text, (*[16]byte)(sum[:16]))
	return append(dst, text[:]...)
}

// idHasher computes the v5 ids with a SHA-1 digest it keeps, writing each name already
// padded as SHA-1 pads a message (a 0x80 byte, zeros, and the length in bits as a big-endian
// 64-bit number, filling the last 64-byte block) as whole blocks, which the digest
// compresses in place, and
// reading the result from the digest's state rather than finishing it: sha1.Sum copied the
// name into its buffer, padded it in a second write and copied the digest out, which cost
// about as much as the compression itself. The same SHA-1, so the same ids.
type idHasher struct {
	d     sha1Digest // nil until first use
	msg   [4 * 64]byte
	state [128]byte
}

// sha1Digest is what crypto/sha1's digest offers that idHasher uses.
type sha1Digest interface {
	hash.Hash
	encoding.BinaryAppender
}

// maxPaddedName is the longest name v5 pads in msg: the name, the 0x80 byte and the 8-byte
// length must fit. Longer names (event or integration ids far beyond real ones) take appendV5.
const maxPaddedName = len(idHasher{}.msg) - 9

// sha1StateMagic starts crypto/sha1's marshalled state, followed by the five state words.
const sha1StateMagic = "sha\x01"

// v5 writes into dst (uuidLen bytes) the text appendV5 appends for the same arguments.
func (h *idHasher) v5(dst []byte, eventID, integrationID string, pair bool) {
	n := len(Namespace) + len(eventID)
	if pair {
		n += 1 + len(integrationID)
	}
	if n > maxPaddedName {
		appendV5(dst[:0], eventID, integrationID, pair)
		return
	}
	if h.d == nil {
		d, ok := sha1.New().(sha1Digest)
		if !ok {
			appendV5(dst[:0], eventID, integrationID, pair)
			return
		}
		h.d = d
	}
	padded := (n + 8 + 64) &^ 63
	m := h.msg[:padded]
	copy(m, Namespace[:])
	i := len(Namespace) + copy(m[len(Namespace):], eventID)
	if pair {
		m[i] = 0
		i += 1 + copy(m[i+1:], integrationID)
	}
	m[i] = 0x80
	clear(m[i+1 : padded-8])
	binary.BigEndian.PutUint64(m[padded-8:], uint64(n)*8)
	h.d.Reset()
	st, err := h.d.Write(m)
	if err == nil && st == padded {
		s, err := h.d.AppendBinary(h.state[:0])
		if err == nil && len(s) >= len(sha1StateMagic)+20 && string(s[:len(sha1StateMagic)]) == sha1StateMagic {
			formatV5((*[uuidLen]byte)(dst), (*[16]byte)(s[len(sha1StateMagic):]))
			return
		}
	}
	appendV5(dst[:0], eventID, integrationID, pair) // crypto/sha1 refused (FIPS 140-only mode): it panics
}

// hexPairs holds the two hex digits of every byte value.
const hexPairs = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f" +
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" +
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf" +
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

// formatV5 writes the canonical text of the version 5, RFC 4122 variant UUID whose hash
// begins with sum.
func formatV5(text *[uuidLen]byte, sum *[16]byte) {
	u := *sum
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	put := func(at int, c byte) { text[at], text[at+1] = hexPairs[2*int(c)], hexPairs[2*int(c)+1] }
	put(0, u[0])
	put(2, u[1])
	put(4, u[2])
	put(6, u[3])
	text[8] = '-'
	put(9, u[4])
	put(11, u[5])
	text[13] = '-'
	put(14, u[6])
	put(16, u[7])
	text[18] = '-'
	put(19, u[8])
	put(21, u[9])
	text[23] = '-'
	put(24, u[10])
	put(26, u[11])
	put(28, u[12])
	put(30, u[13])
	put(32, u[14])
	put(34, u[15])
}

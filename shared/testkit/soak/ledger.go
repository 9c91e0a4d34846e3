package soak

import (
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ledger follows each message through the pollers to spot SQS's own duplicates: a message
// handed to a second invocation while a handler still runs on its batch (a standard queue
// delivers at least once; the forwarder's own visibility change for a throttled feed can
// also make a message visible before its invocation ends), after it was deleted, or twice
// with the same receive count (moto's receive is not atomic across threads). Two invocations holding one event at once may both
// find no idempotency record and both send it; only mParticle's deduplication can absorb
// that, so the soak excuses those events from the confirmed-twice count and reports them.
type ledger struct {
	mu       sync.Mutex
	held     map[string]int // message id -> invocations holding it
	gone     map[string]bool
	lastRecv map[string]int
	dup      map[string]bool            // event ids of messages handed out twice at once
	ids      map[string]map[string]bool // body -> message ids
	history  map[string][]string        // message id -> what each receive ended in
	sent     map[string][]string        // event id -> ids of the messages enqueued with it
}

func newLedger() *ledger {
	return &ledger{held: map[string]int{}, gone: map[string]bool{}, lastRecv: map[string]int{},
		dup: map[string]bool{}, ids: map[string]map[string]bool{}, history: map[string][]string{},
		sent: map[string][]string{}}
}

// note records how an invocation ended for a message (crash, function error, failed,
// deleted), for the histories of messages that end in the dead-letter queue.
func (l *ledger) note(m sqstypes.Message, verdict string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := aws.ToString(m.MessageId)
	n := m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]
	l.history[id] = append(l.history[id], "receive "+n+": "+verdict)
}

// historyOf returns what happened to a message at each receive.
func (l *ledger) historyOf(messageID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.history[messageID]...)
}

func (l *ledger) take(msgs []sqstypes.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		id, body := aws.ToString(m.MessageId), aws.ToString(m.Body)
		n, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		if l.held[id] > 0 || l.gone[id] || (n > 0 && n <= l.lastRecv[id]) {
			if ev := eventID(body); ev != "" {
				l.dup[ev] = true
			}
		}
		l.held[id]++
		l.lastRecv[id] = max(l.lastRecv[id], n)
		if l.ids[body] == nil {
			l.ids[body] = map[string]bool{}
		}
		l.ids[body][id] = true
	}
}

func (l *ledger) release(msgs []sqstypes.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		id := aws.ToString(m.MessageId)
		if l.held[id]--; l.held[id] <= 0 {
			delete(l.held, id)
		}
	}
}

func (l *ledger) deleted(messageID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone[messageID] = true
}

// deletedCount is the number of distinct messages deleted so far.
func (l *ledger) deletedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.gone)
}

// summary returns the event ids handed out twice at once, and the number of bodies that
// reached the queue as more than one message (a send retried after SQS had taken it).
func (l *ledger) summary() (concurrent []string, enqueuedTwice int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ev := range l.dup {
		concurrent = append(concurrent, ev)
	}
	for _, ids := range l.ids {
		if len(ids) > 1 {
			enqueuedTwice++
		}
	}
	return concurrent, enqueuedTwice
}

// enqueued notes the id SQS gave a message carrying the event (valid ones: eventID set).
func (l *ledger) enqueued(eventID, messageID string) {
	if eventID == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[eventID] = append(l.sent[eventID], messageID)
}

// neverReceived reports whether every message enqueued with the event vanished from the
// queue without being received once: the queue lost it, not the forwarder. (moto's
// DeleteMessage rebuilds the queue's message list without the lock SendMessage takes, so
// a message enqueued during a delete can be dropped; SQS itself does not do that.)
func (l *ledger) neverReceived(eventID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.sent[eventID]
	for _, id := range ids {
		if _, ok := l.lastRecv[id]; ok {
			return false
		}
	}
	return len(ids) > 0
}

// messagesOf returns the ids of the messages received whose body carries the event.
func (l *ledger) messagesOf(ev string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for body, ids := range l.ids {
		if eventID(body) == ev {
			for id := range ids {
				out = append(out, id)
			}
		}
	}
	return out
}

// pending returns the messages received at least once and not deleted since.
func (l *ledger) pending() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for id := range l.lastRecv {
		if !l.gone[id] {
			out[id] = true
		}
	}
	return out
}

// allGone reports whether every one of ids was deleted.
func (l *ledger) allGone(ids map[string]bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range ids {
		if !l.gone[id] {
			return false
		}
	}
	return true
}

// receives returns how many deleted messages (delivered, or acknowledged after a dead letter
// the forwarder wrote) had been received more than limit times, and the most receives of
// any message.
func (l *ledger) receives(limit int) (over, most int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, n := range l.lastRecv {
		most = max(most, n)
		if n > limit && l.gone[id] {
			over++
		}
	}
	return over, most
}

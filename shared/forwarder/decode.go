package forwarder

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// appWork is one app's share of the batch.
type appWork struct {
	id      string
	events  []*record // valid, each the first message of its event id
	invalid []*record // not valid events, with a readable app_id
	feeds   []*feedWork
}

// decode reads each message into a record and groups the events by app. A body that is not
// a valid event is dead-lettered at once when its app cannot be read; otherwise it waits
// for its app's integrations (settleInvalid). A second message with an event already in the
// batch is not sent: it shares the first one's verdict.
func (h *Handler) decode(ctx context.Context, inv *invocation, msgs []events.SQSMessage) {
	byID := map[string]*appWork{}
	app := func(id string) *appWork {
		a := byID[id]
		if a == nil {
			a = &appWork{id: id}
			byID[id] = a
			inv.apps = append(inv.apps, a)
		}
		return a
	}
	firstOf := map[string]*record{}
	for _, msg := range msgs {
		r := &record{msg: msg, receiveCount: receiveCount(msg), seenBefore: seenBefore(msg)}
		inv.recs = append(inv.recs, r)
		ev, err := event.DecodeString(msg.Body)
		if err != nil {
			if appID := invalidAppID(err); appID != "" {
				r.invalid = err
				a := app(appID)
				a.invalid = append(a.invalid, r)
				continue
			}
			h.settleMessage(ctx, inv, r, decide(attempt{invalid: err}))
			continue
		}
		r.ev = ev
		if first, ok := firstOf[ev.ID]; ok {
			r.dupOf = first
			// The first carries the event's deliveries: it is looked up if either may
			// have been served before.
			first.seenBefore = first.seenBefore || r.seenBefore
			h.settleMessage(ctx, inv, r, decide(attempt{twin: first.msg.MessageId}))
			continue
		}
		firstOf[ev.ID] = r
		a := app(ev.AppID)
		a.events = append(a.events, r)
	}
}

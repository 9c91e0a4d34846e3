package forwarder

import "time"

// Fair shares.
//
// One SQS batch carries many apps' messages, and one app may need many feeds (up to its cap
// of enabled integrations), some of them slow. Started in arrival order, such an app's feeds
// would take every slot while the other apps' messages waited for the deadline and went back
// to the queue, again and again until the dead-letter queue. So the feeds of an invocation
// are started by a scheduler:
//
//   - Turns: apps take turns, in order of first appearance in the batch: app A's first feed,
//     app B's first, app C's first, then A's second, and so on.
//   - Slots: while other apps have feeds waiting, an app holds at most its share of the
//     concurrent slots, slots / apps with work (at least one). A slot nobody else can use
//     goes to whoever still has feeds, so slots never idle while work waits.
//   - Time: while more apps have work than there are slots, a feed may run for its app's
//     share of the time left, left × slots / apps with work; after that it is cut short and
//     its messages retried, and its slot goes to the next app in turn. When every app with
//     work fits in the slots, a feed may run until the upload deadline: a slow feed then
//     only holds its own app's slot.
//
// Feeds that have not started by the upload deadline are not started: their messages go
// back to the queue for their backoff (NotStarted).

// scheduler hands out an invocation's feeds. It is not safe for concurrent use: sendAll
// calls it from one goroutine.
type scheduler struct {
	slots   int
	queues  []*appQueue
	of      map[*feedWork]*appQueue
	turn    int // index in queues of the app whose turn is next
	running int
}

// appQueue is one app's feeds to start, and how many of its feeds are running.
type appQueue struct {
	waiting []*feedWork
	running int
}

// newScheduler queues the feeds of apps that have something to send, in order.
func newScheduler(apps []*appWork, slots int) *scheduler {
	s := &scheduler{slots: max(slots, 1), of: map[*feedWork]*appQueue{}}
	for _, a := range apps {
		q := &appQueue{}
		for _, fw := range a.feeds {
			if len(fw.deliveries) > 0 { // all already delivered otherwise
				q.waiting = append(q.waiting, fw)
				s.of[fw] = q
			}
		}
		if len(q.waiting) > 0 {
			s.queues = append(s.queues, q)
		}
	}
	return s
}

// waiting reports whether feeds remain to be started.
func (s *scheduler) waiting() bool {
	for _, q := range s.queues {
		if len(q.waiting) > 0 {
			return true
		}
	}
	return false
}

// full reports whether every slot is taken.
func (s *scheduler) full() bool { return s.running >= s.slots }

// active is the number of apps with feeds waiting or running.
func (s *scheduler) active() int {
	n := 0
	for _, q := range s.queues {
		if len(q.waiting) > 0 || q.running > 0 {
			n++
		}
	}
	return n
}

// start takes the next feed to run, or nil when none waits or no slot is free: the first
// app in turn holding less than its share of the slots, or, when no such app waits, the
// first app in turn.
func (s *scheduler) start() *feedWork {
	if s.full() {
		return nil
	}
	share := max(1, s.slots/max(s.active(), 1))
	for _, capped := range []bool{true, false} {
		for i := range s.queues {
			at := (s.turn + i) % len(s.queues)
			q := s.queues[at]
			if len(q.waiting) == 0 || (capped && q.running >= share) {
				continue
			}
			fw := q.waiting[0]
			q.waiting[0] = nil
			q.waiting = q.waiting[1:]
			q.running++
			s.running++
			s.turn = (at + 1) % len(s.queues)
			return fw
		}
	}
	return nil
}

// done frees the slot of a feed that start handed out.
func (s *scheduler) done(fw *feedWork) {
	s.of[fw].running--
	s.running--
}

// unstarted returns the feeds never started, and forgets them.
func (s *scheduler) unstarted() []*feedWork {
	var out []*feedWork
	for _, q := range s.queues {
		out = append(out, q.waiting...)
		q.waiting = nil
	}
	return out
}

// timeShare is how much of left (the time to the upload deadline) a feed started now may
// use: all of it while the apps with work fit in the slots, else its app's share. Call it
// after start, so that the started feed's app counts.
func (s *scheduler) timeShare(left time.Duration) time.Duration {
	n := s.active()
	if n <= s.slots || left <= 0 {
		return left
	}
	return left * time.Duration(s.slots) / time.Duration(n)
}

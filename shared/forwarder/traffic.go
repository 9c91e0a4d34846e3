package forwarder

import (
	"context"
	"net/http"
	"sync/atomic"
)

// feedTraffic is what one integration's uploads put on the wire in an invocation.
type feedTraffic struct {
	requests, bytes atomic.Int64
}

type trafficKey struct{}

// withTraffic makes the HTTP requests of an upload in ctx count towards t, when the
// client's transport is a CountTraffic.
func withTraffic(ctx context.Context, t *feedTraffic) context.Context {
	return context.WithValue(ctx, trafficKey{}, t)
}

// CountTraffic wraps the mParticle client's HTTP transport so that each integration's log
// line ("feed done") can say how many requests and bytes its uploads took, retries and
// narrowed requests included, as sent: the client itself does not report them. Requests
// made outside a forwarder upload pass through uncounted.
func CountTraffic(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return trafficTransport{base}
}

type trafficTransport struct{ base http.RoundTripper }

func (t trafficTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if ft, ok := req.Context().Value(trafficKey{}).(*feedTraffic); ok {
		ft.requests.Add(1)
		if req.ContentLength > 0 {
			ft.bytes.Add(req.ContentLength)
		}
	}
	return t.base.RoundTrip(req)
}

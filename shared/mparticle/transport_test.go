package mparticle

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// h1Client is a Client on its own h1Transport (not the shared one), so connection counts
// and idle pools belong to the test.
func h1Client(t *testing.T, base string, mod func(*h1Transport)) (*Client, *h1Transport) {
	t.Helper()
	tr := newH1Transport(&http.Transport{})
	if mod != nil {
		mod(tr)
	}
	c, err := New(Options{BaseURL: base, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	c.http = &http.Client{Transport: tr, CheckRedirect: noRedirects}
	c.direct = tr
	t.Cleanup(tr.CloseIdleConnections)
	return c, tr
}

func TestH1TransportReusesOneConnection(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	})
	c, _ := h1Client(t, ts.URL, nil)
	for i := range 5 {
		res := c.Upload(context.Background(), testFeed("US1"), smallBatches(3))
		if got := countOutcomes(res)[Delivered]; got != 3 {
			t.Fatalf("upload %d: %v", i, res)
		}
	}
	if n := ts.connections(); n != 1 {
		t.Errorf("connections = %d, want 1 kept alive across uploads", n)
	}
	reqs := ts.requests()
	if len(reqs) != 5 || reqs[0].User != testCreds.Key || reqs[0].Pass != testCreds.Secret ||
		reqs[0].ContentType != "application/json" || reqs[0].Accept != "application/json" {
		t.Fatalf("requests = %+v", reqs)
	}
	if ids := reqs[4].batchIDs(t); len(ids) != 3 || ids[2] != "req-002" {
		t.Errorf("last body carries %v", ids)
	}
}

// A connection the server closed while idle is noticed before use: the request goes on a
// new connection and succeeds at its first attempt.
func TestH1TransportSkipsConnectionClosedWhileIdle(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := h1Client(t, ts.URL, nil)
	if res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1)); res[0].Outcome != Delivered {
		t.Fatal(res)
	}
	ts.CloseClientConnections()
	time.Sleep(50 * time.Millisecond) // the FIN reaches the idle socket
	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1))
	if res[0].Outcome != Delivered || res[0].Attempts != 1 {
		t.Fatalf("after the server closed the idle connection: %+v", res[0])
	}
	if n := ts.connections(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

// Answers that end the connection (Connection: close, a body longer than what is drained)
// are not reused; the next request dials again and succeeds.
func TestH1TransportDropsConnectionsItCannotReuse(t *testing.T) {
	for name, h := range map[string]handlerFunc{
		"connection close": func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		},
		"long body": func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, strings.Repeat("x", 4*maxDrain)) // past what the client and the transport drain
		},
		"unknown length": func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
			w.WriteHeader(http.StatusAccepted)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "partial")
		},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, h)
			c, tr := h1Client(t, ts.URL, nil)
			for i := range 3 {
				if res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1)); res[0].Outcome != Delivered || res[0].Attempts != 1 {
					t.Fatalf("upload %d: %+v", i, res[0])
				}
			}
			tr.mu.Lock()
			idle := 0
			for _, cs := range tr.idle {
				idle += len(cs)
			}
			tr.mu.Unlock()
			if name == "long body" || name == "connection close" {
				if n := ts.connections(); n != 3 {
					t.Errorf("connections = %d, want one per request", n)
				}
			}
			if name != "unknown length" && idle != 0 {
				t.Errorf("%d idle connections kept, want none", idle)
			}
		})
	}
}

// A request the server never answers ends with the request timeout, and the connection is
// not reused afterwards.
func TestH1TransportTimeoutInterruptsRead(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ recordedRequest, _ int) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	defer close(release)
	c, _ := h1Client(t, ts.URL, nil)
	c.opts.RequestTimeout = 250 * time.Millisecond
	start := time.Now()
	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1))
	if res[0].Outcome != Delivered || res[0].Attempts < 2 {
		t.Fatalf("result = %+v, want delivered after the first attempt timed out", res[0])
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if n := ts.connections(); n < 2 {
		t.Errorf("connections = %d, want the timed-out one dropped", n)
	}
}

func TestH1TransportCancelledContext(t *testing.T) {
	ts := newTestServer(t, func(_ http.ResponseWriter, r *http.Request, _ recordedRequest, _ int) {
		<-r.Context().Done()
	})
	c, _ := h1Client(t, ts.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	res := c.Upload(ctx, testFeed("US1"), smallBatches(1))
	if res[0].Outcome != Retryable || !errors.Is(res[0].Err, context.Canceled) {
		t.Fatalf("result = %+v, want retryable with context.Canceled", res[0])
	}
}

// A 3xx comes back as it is: the transport never follows it, with or without http.Client.
func TestH1TransportRedirectNotFollowed(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ recordedRequest, _ int) {
		http.Redirect(w, r, "http://elsewhere.invalid/v2/bulkevents", http.StatusTemporaryRedirect)
	})
	c, _ := h1Client(t, ts.URL, nil)
	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(2))
	if res[0].Outcome != Redirected || res[0].StatusCode != http.StatusTemporaryRedirect || len(ts.requests()) != 1 {
		t.Fatalf("result = %+v after %d requests", res[0], len(ts.requests()))
	}
}

func TestH1TransportTLS(t *testing.T) {
	var conns atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.ProtoMajor != 1 || r.TLS == nil {
			t.Errorf("request over %s, TLS %v; want HTTP/1.1 over TLS", r.Proto, r.TLS != nil)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	ts.EnableHTTP2 = true // offered by the server; the client asks for http/1.1 only
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.StartTLS()
	defer ts.Close()
	c, _ := h1Client(t, ts.URL, func(tr *h1Transport) {
		tr.tlsConfig = &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	})
	for range 3 {
		if res := c.Upload(context.Background(), testFeed("US1"), smallBatches(2)); res[0].Outcome != Delivered {
			t.Fatalf("%+v", res[0])
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("TLS connections = %d, want 1", n)
	}
}

// Requests the environment sends through a proxy go to net/http's Transport.
func TestH1TransportProxyGoesToFallback(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Host != "mparticle.invalid" {
			t.Errorf("proxy got %s", r.URL)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	c, _ := h1Client(t, "http://mparticle.invalid", func(tr *h1Transport) {
		fb := &http.Transport{Proxy: http.ProxyURL(pu)}
		tr.fallback, tr.proxy = fb, fb.Proxy
	})
	if res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1)); res[0].Outcome != Delivered {
		t.Fatalf("%+v", res[0])
	}
	if proxied.Load() != 1 {
		t.Error("the request did not go through the proxy")
	}
}

// The head the transport writes is a well-formed HTTP/1.1 request that a strict parser reads
// back with the same method, path, headers and body.
func TestH1TransportWritesParsableRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *http.Request, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			t.Errorf("ReadRequest: %v", err)
			got <- nil
			return
		}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		got <- req
		_, _ = fmt.Fprint(conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
	}()
	c, _ := h1Client(t, "http://"+ln.Addr().String()+"/s2s", nil)
	res := c.Upload(context.Background(), testFeed("EU1"), smallBatches(2))
	req := <-got
	if res[0].Outcome != Delivered || req == nil {
		t.Fatalf("%+v", res[0])
	}
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.URL.Path != "/s2s"+PathBulkEvents || req.Host != ln.Addr().String() ||
		req.ContentLength != int64(len(body)) || req.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(string(body), `[{"environment":"development"`) {
		t.Errorf("request = %s %s host %s, length %d, headers %v, body %.60s", req.Method, req.URL, req.Host, req.ContentLength, req.Header, body)
	}
	if u, p, ok := req.BasicAuth(); !ok || u != testCreds.Key || p != testCreds.Secret {
		t.Error("basic auth missing or wrong")
	}
}

func TestCanonicalAddr(t *testing.T) {
	for _, tt := range []struct{ host, scheme, want string }{
		{"s2s.mparticle.com", "https", "s2s.mparticle.com:443"},
		{"127.0.0.1:9999", "http", "127.0.0.1:9999"},
		{"example.com", "http", "example.com:80"},
		{"[::1]", "https", "[::1]:443"},
		{"[::1]:8443", "https", "[::1]:8443"},
	} {
		if got := canonicalAddr(tt.host, tt.scheme); got != tt.want {
			t.Errorf("canonicalAddr(%q, %q) = %q, want %q", tt.host, tt.scheme, got, tt.want)
		}
	}
}

// A server that answers 413 and closes without reading a large body: the client sees the
// 413 (not a broken pipe) and narrows, as it does with net/http.
func TestH1TransportEarlyAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.ContentLength > 4096 {
					_, _ = fmt.Fprint(conn, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = fmt.Fprint(conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
			}(conn)
		}
	}()
	c, _ := h1Client(t, "http://"+ln.Addr().String(), nil)
	bs := []Batch{paddedBatch(0, 120_000), smallBatch(1)}
	res := c.Upload(context.Background(), testFeed("US1"), bs)
	if res[1].Outcome != Delivered {
		t.Errorf("small batch = %+v, want delivered after narrowing", res[1])
	}
	if res[0].Outcome != Permanent || res[0].StatusCode != http.StatusRequestEntityTooLarge || !errors.Is(res[0].Err, ErrBatchTooLarge) {
		t.Errorf("large batch = %+v, want permanent after a 413", res[0])
	}
}

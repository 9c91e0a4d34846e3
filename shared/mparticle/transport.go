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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// h1Transport is the client's default http.RoundTripper: HTTP/1.1 over kept-alive
// connections, each request written and its answer read on the caller's goroutine.
//
// Why not net/http's Transport: it runs two goroutines per connection (a writer and a
// reader) and hands every request and response between them and the caller over channels.
// The client sends one request at a time per upload, so those hand-offs (and the thread
// wake-ups they cause) were most of a small request's CPU time; and net/http copies a body
// it does not recognise through a fresh 32 KB buffer, and may go on reading a body after
// the response came back, which keeps request bodies from being reused. Here a request is
// one write of its head and body (writev on plain TCP) and its answer is read with
// net/http's own parser (http.ReadResponse); RoundTrip returns only once the body is fully
// written or the connection is dropped, so the body's buffer is free when it returns.
//
// It handles only the client's own requests (bodies made by bodies.open, of known length);
// anything else, and every request that the environment's proxy settings send through a
// proxy, goes to net/http's Transport (fallback), as all requests did before. Redirects are
// the http.Client's business (never followed, see noRedirects); HTTP/2 is not offered: the
// client's requests are sequential per upload, so one kept-alive HTTP/1.1 connection per
// concurrent upload carries them as well.
type h1Transport struct {
	dialer           net.Dialer
	tlsConfig        *tls.Config // cloned per connection with its ServerName
	handshakeTimeout time.Duration
	idleTimeout      time.Duration
	maxIdlePerHost   int
	proxy            func(*http.Request) (*url.URL, error)
	fallback         http.RoundTripper

	mu   sync.Mutex
	idle map[connKey][]*h1Conn
}

type connKey struct{ scheme, addr string }

// h1Conn is one kept-alive connection.
type h1Conn struct {
	key       connKey
	conn      net.Conn // what requests are written to: the TLS connection, or raw
	raw       net.Conn // the TCP connection under it, checked for life before reuse
	tls       bool
	br        *bufio.Reader
	head      []byte // the request head, rebuilt per request
	idleSince time.Time
}

// newH1Transport returns the transport the client uses by default.
func newH1Transport(fallback *http.Transport) *h1Transport {
	t := &h1Transport{
		dialer:           net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		tlsConfig:        &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(32)},
		handshakeTimeout: 5 * time.Second,
		idleTimeout:      90 * time.Second,
		maxIdlePerHost:   16,
		proxy:            fallback.Proxy,
		fallback:         fallback,
	}
	return t
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, ok := req.Body.(*trackedBody)
	scheme := req.URL.Scheme
	if !ok || req.ContentLength != int64(len(body.data)) || (scheme != "http" && scheme != "https") || req.URL.Host == "" {
		return t.fallback.RoundTrip(req)
	}
	if t.proxy != nil {
		p, err := t.proxy(req)
		if err != nil {
			_ = req.Body.Close()
			return nil, err
		}
		if p != nil {
			return t.fallback.RoundTrip(req)
		}
	}
	defer body.Close()
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err // nothing sent, as net/http does for a request already cancelled
	}
	key := connKey{scheme, canonicalAddr(req.URL.Host, scheme)}
	for {
		pc, reused, err := t.getConn(ctx, key, req.URL.Hostname())
		if err != nil {
			return nil, err
		}
		resp, written, err := t.roundTrip(ctx, pc, req, body.data)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection the server closed while it sat idle, found out before
		// anything was sent on it: the request can go on a new connection at once, as
		// net/http does. Once bytes have left, the server may have acted on them, so the
		// error goes up to the client's retry (with backoff, and the same batches).
		if reused && !written && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// roundTrip writes the request on pc and reads the answer's head. On error pc is closed.
func (t *h1Transport) roundTrip(ctx context.Context, pc *h1Conn, req *http.Request, body []byte) (resp *http.Response, written bool, err error) {
	var stop func() bool
	if ctx.Done() != nil {
		conn := pc.conn
		// A cancelled (or expired) context interrupts a blocked write or read by setting a
		// deadline in the past.
		stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	}
	fail := func(err error) (*http.Response, bool, error) {
		if stop != nil {
			stop()
		}
		_ = pc.conn.Close()
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, written, err
	}
	// No deadline of the connection's own: the context's expiry (a cancellation) is what
	// interrupts it, so a request ends with the context's error, after the context is done,
	// as with net/http; callers that check ctx.Err() to decide what to do next see it set.
	if err := pc.writeHead(req, len(body)); err != nil {
		return fail(err)
	}
	n, err := pc.write(body)
	written = n > 0
	if err != nil {
		// A server may answer and close before reading the whole body (a 413, say): its
		// answer, if it arrived, says more than the broken write, as net/http would report.
		if written {
			if resp, rerr := http.ReadResponse(pc.br, req); rerr == nil && resp.StatusCode >= 200 {
				resp.Body = &h1Body{rc: resp.Body, pc: pc, t: t, stop: stop}
				return resp, written, nil
			}
		}
		return fail(err)
	}
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(err)
		}
		// 1xx answers (103 Early Hints, an unasked 100 Continue) precede the real one.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	resp.Body = &h1Body{rc: resp.Body, pc: pc, t: t, stop: stop, reuse: !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1)}
	return resp, written, nil
}

// aLongTimeAgo is a deadline in the past: it makes a blocked read or write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// writeHead puts the request line and headers in pc.head (sent with the body by write).
func (pc *h1Conn) writeHead(req *http.Request, n int) error {
	h := pc.head[:0]
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	h = append(h, req.Method...)
	h = append(h, ' ')
	h = append(h, req.URL.RequestURI()...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, host...)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(n), 10)
	h = append(h, "\r\n"...)
	if _, ok := req.Header["User-Agent"]; !ok {
		h = append(h, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	for k, vs := range req.Header {
		if !validHeaderName(k) {
			return fmt.Errorf("mparticle: invalid header name %q", k)
		}
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue // set above, or not ours to set
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return fmt.Errorf("mparticle: invalid value for header %q", k)
			}
			h = append(h, k...)
			h = append(h, ": "...)
			h = append(h, v...)
			h = append(h, "\r\n"...)
		}
	}
	pc.head = append(h, "\r\n"...)
	if !validHeaderValue(host) || strings.ContainsAny(req.Method, " \r\n") {
		return errors.New("mparticle: invalid request line")
	}
	return nil
}

// write sends the head and body in one system call on plain TCP; over TLS, as one run of
// records. It returns how many bytes left.
func (pc *h1Conn) write(body []byte) (int, error) {
	if pc.tls {
		pc.head = append(pc.head, body...)
		n, err := pc.conn.Write(pc.head)
		pc.head = pc.head[:0]
		return n, err
	}
	bufs := net.Buffers{pc.head, body}
	n, err := bufs.WriteTo(pc.conn)
	return int(n), err
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// canonicalAddr is host:port with the scheme's default port filled in.
func canonicalAddr(host, scheme string) string {
	if _, port, err := net.SplitHostPort(host); err == nil && port != "" {
		return host
	}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if scheme == "https" {
		return net.JoinHostPort(h, "443")
	}
	return net.JoinHostPort(h, "80")
}

// getConn returns an idle connection to key that is still open, or dials one.
func (t *h1Transport) getConn(ctx context.Context, key connKey, serverName string) (*h1Conn, bool, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		conns := t.idle[key]
		if len(conns) == 0 {
			t.mu.Unlock()
			break
		}
		pc := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		t.idle[key] = conns[:len(conns)-1]
		t.mu.Unlock()
		if now.Sub(pc.idleSince) < t.idleTimeout && stillOpen(pc) {
			return pc, true, nil
		}
		_ = pc.conn.Close()
	}
	raw, err := t.dialer.DialContext(ctx, "tcp", key.addr)
	if err != nil {
		return nil, false, err
	}
	pc := &h1Conn{key: key, conn: raw, raw: raw}
	if key.scheme == "https" {
		cfg := t.tlsConfig.Clone()
		cfg.ServerName = serverName
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(raw, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = raw.Close()
			return nil, false, err
		}
		pc.conn, pc.tls = tc, true
	}
	pc.br = bufio.NewReaderSize(pc.conn, 4096)
	return pc, false, nil
}

// put keeps pc for the next request to its host, or closes it if the host has enough.
func (t *h1Transport) put(pc *h1Conn) {
	if err := pc.conn.SetDeadline(time.Time{}); err != nil || pc.br.Buffered() > 0 {
		_ = pc.conn.Close() // bytes past the answer: the connection is out of step
		return
	}
	pc.idleSince = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[connKey][]*h1Conn)
	}
	if len(t.idle[pc.key]) < t.maxIdlePerHost {
		t.idle[pc.key] = append(t.idle[pc.key], pc)
		pc = nil
	}
	t.mu.Unlock()
	if pc != nil {
		_ = pc.conn.Close()
	}
}

// CloseIdleConnections closes the kept-alive connections (http.Client calls it).
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			_ = pc.conn.Close()
		}
	}
	if f, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// h1Body is a response body that gives its connection back once read to the end.
type h1Body struct {
	rc     io.ReadCloser
	pc     *h1Conn
	t      *h1Transport
	stop   func() bool
	reuse  bool
	eof    bool
	closed bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("mparticle: read on closed response body")
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.reuse = false
	}
	return n, err
}

// maxDrain bounds what Close reads of an unread answer to keep its connection.
const maxDrain = 64 << 10

// Close reads what is left of a short answer so the connection can carry the next request,
// and drops the connection otherwise (a long or broken answer, or a cancelled request).
func (b *h1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.eof && b.reuse {
		n, err := io.Copy(io.Discard, io.LimitReader(readerOnly{b.rc}, maxDrain+1))
		b.eof = err == nil && n <= maxDrain
	}
	reuse := b.reuse && b.eof
	if b.stop != nil && !b.stop() {
		reuse = false // the context's cancellation already expired the deadline
	}
	if reuse {
		b.t.put(b.pc)
	} else {
		_ = b.pc.conn.Close()
	}
	return nil
}

type readerOnly struct{ io.Reader }

package mparticle

import (
	"syscall"
	"unsafe"
)

// stillOpen reports whether an idle connection can carry a request: the server has not
// closed or reset it (net/http learns this from its reader goroutine; h1Transport has none,
// so it asks the socket, without blocking, before reuse). Over plain TCP an idle connection
// must have nothing to read; over TLS it may (a session ticket), which is no sign of a close.
func stillOpen(pc *h1Conn) bool {
	sc, ok := pc.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == syscall.EAGAIN:
			open = true
		case errno == 0 && n > 0:
			open = pc.tls
		}
		return true // never wait for readiness
	})
	return err == nil && open
}

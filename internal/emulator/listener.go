package emulator

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Listener serves HTTP and HTTPS on one port: it looks at the first byte
// each client sends, and hands a TLS ClientHello (0x16, a handshake record)
// to TLS with the emulator's certificate and anything else on as plain
// HTTP. So every emulator URL keeps working over http://, and the same
// host:port answers https://, which is what SNS's URLs need (#13): one
// address to configure, and a seller that trusts the host for one scheme
// trusts the same host for the other.
//
// An http.Server serving the returned listener sees *tls.Conn for HTTPS
// clients and fills Request.TLS.
func (e *Emulator) Listener(ln net.Listener) net.Listener {
	return newSniffListener(ln, e.tls)
}

// sniffTimeout bounds how long a connection may stay silent before its
// first byte; the http.Server's own timeouts only start after that.
const sniffTimeout = 10 * time.Second

const tlsHandshakeRecord = 0x16

type sniffListener struct {
	net.Listener
	tls   *tls.Config
	conns chan net.Conn
	// stopped is closed when the accept loop ends, after err is set.
	stopped chan struct{}
	err     error
}

func newSniffListener(ln net.Listener, cfg *tls.Config) *sniffListener {
	l := &sniffListener{Listener: ln, tls: cfg, conns: make(chan net.Conn), stopped: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// acceptLoop owns the underlying Accept; it ends when the listener fails
// for good, as Close makes it. Each connection is sniffed on a goroutine of
// its own, so one silent client does not hold up the others.
func (l *sniffListener) acceptLoop() {
	defer close(l.stopped)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// Temporary failures (out of file descriptors) are waited
			// out, as http.Server does with them.
			var temp interface{ Temporary() bool }
			if !errors.Is(err, net.ErrClosed) && errors.As(err, &temp) && temp.Temporary() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			l.err = err
			return
		}
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(sniffTimeout)) //nolint:errcheck // a conn without deadlines is read anyway
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{}) //nolint:errcheck // as above
	if err != nil {
		c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == tlsHandshakeRecord {
		out = tls.Server(out, l.tls)
	}
	select {
	case l.conns <- out:
	case <-l.stopped: // closed: nobody will Accept it
		c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.stopped:
		return nil, l.err
	}
}

// peekedConn reads the bytes the sniffer peeked before the rest.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

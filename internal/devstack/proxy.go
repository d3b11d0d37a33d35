package devstack

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tcpProxy forwards connections from a loopback port to a server, and can
// cut them: how a test system "restarts" a broker it shares with the
// machine (RabbitMQ), without stopping the server itself.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	down  bool

	dropping atomic.Bool // bytes read are thrown away, not forwarded
}

// dropBeforeCut is how long Cut loses the bytes in flight before it closes
// the connections: a network that fails loses what it was carrying, so a
// publish sent then never reaches the broker, and its sender learns only
// from the closed connection.
const dropBeforeCut = 250 * time.Millisecond

// startProxy listens on a free loopback port and forwards to target.
func startProxy(target string) (*tcpProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Port is the port the proxy listens on.
func (p *tcpProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // out of file descriptors, say
			continue
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(s) {
		s.Close()
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, dropper{src, &p.dropping})
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done // either side ended: end both
}

// dropper reads from r, and while drop is set throws what it read away.
type dropper struct {
	r    io.Reader
	drop *atomic.Bool
}

func (d dropper) Read(b []byte) (int, error) {
	for {
		n, err := d.r.Read(b)
		if n == 0 || !d.drop.Load() {
			return n, err
		}
		if err != nil {
			return 0, err
		}
	}
}

// track registers c unless the proxy is cut.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Cut loses the bytes in flight for dropBeforeCut, then closes every
// connection and refuses new ones until Restore, as a network or a broker
// that went down would.
func (p *tcpProxy) Cut() {
	p.dropping.Store(true)
	time.Sleep(dropBeforeCut)
	p.closeAll()
	p.dropping.Store(false)
}

// closeAll closes every connection and refuses new ones until Restore.
func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Close stops the proxy and closes every connection.
func (p *tcpProxy) Close() {
	p.closeAll()
	p.ln.Close()
}

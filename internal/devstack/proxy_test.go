package devstack

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// The proxy forwards both ways; Cut ends every connection and refuses new
// ones until Restore.
func TestProxyForwardsCutsAndRestores(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := startProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip := func(c net.Conn, msg string) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			return err
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && got != msg+"\n" {
			t.Errorf("echo %q, want %q", got, msg)
		}
		return err
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := dial()
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := roundTrip(c, "after the cut"); err == nil {
		t.Error("a connection survived the cut")
	}
	c2 := dial()
	if err := roundTrip(c2, "while cut"); err == nil {
		t.Error("a new connection got through while cut")
	}
	p.Restore()
	c3 := dial()
	if err := roundTrip(c3, "restored"); err != nil {
		t.Errorf("after Restore: %v", err)
	}
	for _, c := range []net.Conn{c, c2, c3} {
		c.Close()
	}
}

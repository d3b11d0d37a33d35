package devstack

import (
	"net"
	"testing"
)

func TestPortAllocatorHandsOutDistinctFreePortsBelowTheEphemeralRange(t *testing.T) {
	a := newPortAllocator(ephemeralLow())
	seen := map[int]bool{}
	for range 50 {
		ps, err := a.take(7)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
			if p < a.lo || p >= a.hi || p >= ephemeralLow() {
				t.Fatalf("port %d outside [%d, %d) or in the ephemeral range", p, a.lo, a.hi)
			}
		}
	}
}

func TestPortAllocatorSkipsPortsInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	if !portFree(busy + 1) {
		t.Skipf("port %d, next to the listener's, is in use by something else", busy+1)
	}
	// A range of exactly two ports, one of them taken by the listener.
	a := &portAllocator{lo: busy, hi: busy + 2, used: map[int]bool{}}
	ps, err := a.take(1)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0] != busy+1 {
		t.Fatalf("got port %d, want %d (the one not in use)", ps[0], busy+1)
	}
	if _, err := a.take(1); err == nil {
		t.Fatal("took a port from a range whose only free port was already handed out")
	}
}

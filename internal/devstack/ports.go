package devstack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports for the processes a system starts are picked here rather than with
// "127.0.0.1:0", for two reasons that each made a sidecar fail to bind in CI:
//   - a port the kernel handed out and that was closed again can be handed out
//     again, so the app's and its sidecar's ports could be the same;
//   - ports from the kernel's ephemeral range are also the local ports of
//     outgoing connections (to PostgreSQL, the broker, the sidecars), so one
//     of those can take the port between the check and daprd's bind, or while
//     a test has a sidecar stopped.
//
// The allocator takes ports below the ephemeral range, checks that each is
// free, and never hands out the same port twice in a process.
var portPool = newPortAllocator(ephemeralLow())

type portAllocator struct {
	mu     sync.Mutex
	lo, hi int // candidates are [lo, hi)
	used   map[int]bool
}

// minPort is the lowest port the allocator uses: well above the well-known
// and registered ports most local servers listen on.
const minPort = 20000

func newPortAllocator(ephemeralLo int) *portAllocator {
	a := &portAllocator{lo: minPort, hi: ephemeralLo, used: map[int]bool{}}
	if a.hi-a.lo < 1000 {
		// An unusual ephemeral range: fall back to a fixed band; the bind
		// check still skips ports in use.
		a.lo, a.hi = 20000, 30000
	}
	return a
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux), or
// the IANA default when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil {
				return lo
			}
		}
	}
	return 49152
}

// take returns n distinct free ports that this allocator has not returned
// before.
func (a *portAllocator) take(n int) ([]int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, 0, n)
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 10*(a.hi-a.lo) || len(a.used) >= a.hi-a.lo {
			return nil, errors.New("free port: no unused port left")
		}
		p := a.lo + rand.IntN(a.hi-a.lo)
		if a.used[p] || !portFree(p) {
			continue
		}
		a.used[p] = true
		out = append(out, p)
	}
	return out, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// FreePort returns a free TCP port on 127.0.0.1 that no other call in this
// process has returned.
func FreePort() (int, error) {
	p, err := portPool.take(1)
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	return p[0], nil
}

// FreePorts returns n distinct free ports, as FreePort does.
func FreePorts(n int) ([]int, error) {
	return portPool.take(n)
}

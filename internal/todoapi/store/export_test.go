package store

import "time"

// SetClock makes s read the time from now: for the tests of what depends
// on when a write happens (a reminder set in the past is not sent). Only
// the tests can set it: this file is compiled into them alone.
func SetClock(s *Store, now func() time.Time) { s.now = now }

package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// limitWrites answers 429 and returns true when the request is a write and
// the user is over the limit.
func (s *Server) limitWrites(w http.ResponseWriter, r *http.Request, user string) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	ok, wait := s.writes.Allow(user)
	if ok {
		return false
	}
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeAPIError(w, errorf(http.StatusTooManyRequests, CodeRateLimited, "",
		fmt.Sprintf("too many changes: at most %g per second with bursts of %d; retry in %d s",
			s.writes.Rate(), s.writes.Burst(), secs)))
	return true
}

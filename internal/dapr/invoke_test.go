package dapr_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/evolution-todo/todo/internal/dapr"
)

func TestValidMethod(t *testing.T) {
	for _, tt := range []struct {
		method string
		want   bool
	}{
		{"inbox", true},
		{"inbox/read", true},
		{"tasks/12/history", true},
		{"internal/reminders/due", true},
		{"a.b_c~d-e", true},
		{"", false},
		{"/inbox", false},
		{"inbox/", false},
		{"inbox//read", false},
		{"inbox/../read", false},
		{"inbox/./read", false},
		{"..", false},
		{"inbox/..%2Fbob", false},
		{"inbox/%2E%2E", false},
		{`inbox\..\bob`, false},
		{"inbox;x", false},
		{"inbox?user=bob", false},
		{"inbox#x", false},
		{"inbox/b\x00b", false},
		{"inbox/é", false},
		{"inbox/a b", false},
	} {
		if got := dapr.ValidMethod(tt.method); got != tt.want {
			t.Errorf("ValidMethod(%q) = %v, want %v", tt.method, got, tt.want)
		}
	}
}

func TestInvokeRefusesRewritableMethodsAndCutAnswers(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if strings.HasSuffix(r.URL.Path, "/big") {
			_, _ = w.Write([]byte(strings.Repeat("x", dapr.MaxResponseBytes+1)))
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("y", dapr.MaxResponseBytes)))
	}))
	defer srv.Close()
	c := dapr.New(srv.URL, "")
	ctx := context.Background()

	if _, err := c.Invoke(ctx, "app", "GET", "inbox/..%2Fbob", nil, nil); !errors.Is(err, dapr.ErrInvalidMethod) || calls != 0 {
		t.Errorf("rewritable method: err %v after %d calls, want ErrInvalidMethod and no call", err, calls)
	}
	if _, err := c.Invoke(ctx, "app", "GET", "big", nil, nil); !errors.Is(err, dapr.ErrResponseTooLarge) {
		t.Errorf("answer over the limit: err %v, want ErrResponseTooLarge", err)
	}
	r, err := c.Invoke(ctx, "app", "GET", "exact", nil, nil)
	if err != nil || len(r.Body) != dapr.MaxResponseBytes {
		t.Errorf("answer at the limit: %d bytes, %v", len(r.Body), err)
	}
}

package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// doubtSidecar is a sidecar whose pub/sub component "ps" has type kind (its
// metadata API answers metaStatus), and whose bulk publish answers each
// call with the next of answers ("ok", "slow" or "fail"; "ok" once they run
// out). published lists the topic and entry ids of every bulk call it
// received, in order.
func doubtSidecar(t *testing.T, kind string, metaStatus int, answers ...string) (c *Client, published func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1.0/metadata" {
			w.WriteHeader(metaStatus)
			_, _ = fmt.Fprintf(w, `{"id":"app","components":[{"name":"other","type":"state.postgresql"},{"name":"ps","type":%q,"version":"v1"}]}`, kind)
			return
		}
		var body []wireEntry
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("bulk body: %v", err)
		}
		ids := make([]string, len(body))
		for i, e := range body {
			ids[i] = e.EntryID
		}
		mu.Lock()
		got = append(got, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]+":"+strings.Join(ids, ","))
		answer := "ok"
		if len(answers) > 0 {
			answer, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		switch answer {
		case "slow":
			time.Sleep(60 * time.Millisecond)
		case "fail":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c = New(srv.URL, "")
	c.doubt.after = 50 * time.Millisecond
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func entries(ids ...string) []BulkEntry {
	out := make([]BulkEntry, len(ids))
	for i, id := range ids {
		out[i] = BulkEntry{ID: id, Event: json.RawMessage(`{"specversion":"1.0","id":"` + id + `","source":"s","type":"t"}`)}
	}
	return out
}

func TestSlowOrFailedPublishRepublishesTheCallsBeforeIt(t *testing.T) {
	tests := []struct {
		name       string
		kind       string
		metaStatus int
		answers    []string
		calls      [][]string // the entry ids of each call, all on topic "t"
		wantErrs   []bool     // per call
		want       []string   // what the sidecar received
	}{
		{
			name: "kafka: a slow publish is only slow", kind: "pubsub.kafka", metaStatus: 200,
			answers: []string{"ok", "slow"}, calls: [][]string{{"a"}, {"b"}}, wantErrs: []bool{false, false},
			want: []string{"t:a", "t:b"},
		},
		{
			name: "rabbitmq: fast publishes are sent once", kind: "pubsub.rabbitmq", metaStatus: 200,
			calls: [][]string{{"a"}, {"b", "c"}, {"d"}}, wantErrs: []bool{false, false, false},
			want: []string{"t:a", "t:b,c", "t:d"},
		},
		{
			name: "rabbitmq: a slow publish sends the calls before it and itself again", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "ok", "slow"}, calls: [][]string{{"a"}, {"b", "c"}, {"d"}, {"e"}}, wantErrs: []bool{false, false, false, false},
			want: []string{"t:a", "t:b,c", "t:d", "t:a", "t:b,c", "t:d", "t:e"},
		},
		{
			name: "rabbitmq: a failed publish sends the calls before it again, and the caller retries it", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "fail"}, calls: [][]string{{"a"}, {"b"}, {"b"}}, wantErrs: []bool{false, true, false},
			want: []string{"t:a", "t:b", "t:a", "t:b"},
		},
		{
			name: "rabbitmq: a failed second copy makes the call fail, and goes first next time", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "slow", "fail"}, calls: [][]string{{"a"}, {"b"}, {"c"}}, wantErrs: []bool{false, true, false},
			want: []string{"t:a", "t:b", "t:a", "t:a", "t:b", "t:c"},
		},
		{
			name: "rabbitmq: the copies count among the recent calls", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "slow", "ok", "ok", "slow"}, calls: [][]string{{"a"}, {"b"}, {"c"}}, wantErrs: []bool{false, false, false},
			want: []string{"t:a", "t:b", "t:a", "t:b", "t:c", "t:a", "t:b", "t:c"},
		},
		{
			name: "rabbitmq: a slow copy is doubted too (the connection broke again)", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "slow", "slow"}, calls: [][]string{{"a"}, {"b"}}, wantErrs: []bool{false, false},
			want: []string{"t:a", "t:b", "t:a", "t:b", "t:a"},
		},
		{
			name: "rabbitmq: copies that stay slow make the call fail after three rounds, and go first next time", kind: "pubsub.rabbitmq", metaStatus: 200,
			answers: []string{"ok", "slow", "slow", "slow", "slow", "slow", "slow", "slow"}, calls: [][]string{{"a"}, {"b"}, {"c"}}, wantErrs: []bool{false, true, false},
			want: []string{"t:a", "t:b", "t:a", "t:b", "t:a", "t:b", "t:a", "t:b", "t:a", "t:b", "t:c"},
		},
		{
			name: "unknown type: slow publishes are doubted", kind: "pubsub.kafka", metaStatus: 500,
			answers: []string{"ok", "slow"}, calls: [][]string{{"a"}, {"b"}}, wantErrs: []bool{false, false},
			want: []string{"t:a", "t:b", "t:a", "t:b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, published := doubtSidecar(t, tt.kind, tt.metaStatus, tt.answers...)
			for i, ids := range tt.calls {
				err := c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries(ids...))
				if (err != nil) != tt.wantErrs[i] {
					t.Errorf("call %d (%v): err = %v, want error %v", i, ids, err, tt.wantErrs[i])
				}
			}
			if got := published(); !slices.Equal(got, tt.want) {
				t.Errorf("the sidecar received\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
}

// Only the last doubtRecent calls are kept: a doubt publishes at most
// those again, however many came before.
func TestDoubtKeepsTheLastCalls(t *testing.T) {
	answers := make([]string, 20)
	for i := range answers {
		answers[i] = "ok"
	}
	answers = append(answers, "slow")
	c, published := doubtSidecar(t, "pubsub.rabbitmq", 200, answers...)
	for i := range 21 {
		if err := c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	got := published()
	var want []string
	for i := range 21 {
		want = append(want, fmt.Sprintf("t:%d", i))
	}
	for i := 20 - doubtRecent; i < 21; i++ { // the last doubtRecent before the slow one, and it
		want = append(want, fmt.Sprintf("t:%d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the sidecar received\n %v\nwant\n %v", got, want)
	}
}

// An error about doubted calls speaks for this call's entries only: all
// of them when it was not sent, none when it was accepted.
func TestDoubtErrorsNameThisCallsEntries(t *testing.T) {
	// a ok; b slow (a and b doubted), their copies fail: b was accepted.
	c, _ := doubtSidecar(t, "pubsub.rabbitmq", 200, "ok", "slow", "fail")
	if err := c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries("a")); err != nil {
		t.Fatal(err)
	}
	err := c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries("b"))
	if err == nil {
		t.Fatal("b: no error, though its doubted copies failed")
	}
	if ids, certain := NotPublished(err); certain {
		t.Errorf("b was accepted, but the error says %v were not published", ids)
	}
	// c: the doubted copies go first and fail again, so c is not sent.
	c2, published := doubtSidecar(t, "pubsub.rabbitmq", 200, "ok", "slow", "fail", "fail")
	for _, id := range []string{"a", "b"} {
		_ = c2.BulkPublishCloudEvents(context.Background(), "ps", "t", entries(id))
	}
	err = c2.BulkPublishCloudEvents(context.Background(), "ps", "t", entries("c", "d"))
	if ids, certain := NotPublished(err); !certain || !slices.Equal(ids, []string{"c", "d"}) {
		t.Errorf("c and d were not sent, but NotPublished says %v, %v (err %v)", ids, certain, err)
	}
	if got := published(); slices.Contains(got, "t:c,d") {
		t.Errorf("c and d were sent: %v", got)
	}
}

// A sidecar that is down says nothing about its broker connection: the
// calls it answered before are not doubted.
func TestRefusedConnectionDoubtsNothing(t *testing.T) {
	c, _ := doubtSidecar(t, "pubsub.rabbitmq", 200)
	if err := c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries("a")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.base = "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	err = c.BulkPublishCloudEvents(context.Background(), "ps", "t", entries("b"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want connection refused", err)
	}
	st := c.doubt.state("ps")
	if len(st.pending) != 0 || len(st.recent) != 1 {
		t.Errorf("after a refused call: %d doubted, %d recent; want 0 and 1 (a)", len(st.pending), len(st.recent))
	}
}

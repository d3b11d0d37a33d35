package browsertest

import (
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

const goodPage = `<!doctype html><html lang="en"><head><title>ok</title></head><body><main><h1>Hi</h1>
<label for="n">Name</label><input id="n"><button id="b" type="button">Go</button><p id="out"></p>
<script>document.getElementById("b").onclick = () => { document.getElementById("out").textContent = document.getElementById("n").value;
 new Notification("hello", {body: "there", tag: "t1"}); };</script></main></body></html>`

const badPage = `<!doctype html><html lang="en"><head><title>bad</title></head><body><main><h1>Bad</h1><button id="x"></button><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>`

func TestHarness(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "who", Value: "me", Path: "/"})
			_, _ = w.Write([]byte(goodPage))
		case "/bad":
			_, _ = w.Write([]byte(badPage))
		case "/cookie":
			c, _ := r.Cookie("who")
			if c != nil {
				_, _ = w.Write([]byte("<!doctype html><p id=c>" + c.Value + "</p>"))
				return
			}
			_, _ = w.Write([]byte("<!doctype html><p id=c>none</p>"))
		default:
			_, _ = w.Write([]byte(goodPage))
		}
	}))
	defer srv.Close()
	alice := NewPerson(t)
	alice.GrantNotifications(t, srv.URL)
	tab := alice.Tab()
	var out string
	tab.Run(t, chromedp.Navigate(srv.URL+"/set"), chromedp.SendKeys("#n", "typed"), chromedp.Click("#b"), chromedp.Text("#out", &out))
	if out != "typed" {
		t.Errorf("typed %q", out)
	}
	if n := tab.Notifications(t); len(n) != 1 || n[0].Title != "hello" || n[0].Tag != "t1" {
		t.Errorf("notifications %+v", n)
	}
	if v := tab.Axe(t); len(v) != 0 {
		t.Errorf("good page: %v", v)
	}
	second := alice.NewTab(t)
	second.Run(t, chromedp.Navigate(srv.URL+"/cookie"), chromedp.Text("#c", &out))
	if out != "me" {
		t.Errorf("second tab of the same person sees cookie %q", out)
	}
	bob := NewPerson(t).Tab()
	bob.Run(t, chromedp.Navigate(srv.URL+"/cookie"), chromedp.Text("#c", &out))
	if out != "none" {
		t.Errorf("another person sees cookie %q", out)
	}
	bob.Run(t, chromedp.Navigate(srv.URL+"/bad"))
	serious := 0
	for _, v := range bob.Axe(t) {
		if v.Impact == "serious" || v.Impact == "critical" {
			serious++
		}
	}
	if serious < 2 {
		t.Errorf("axe found %d serious violations on a page with a nameless button and an image without alt", serious)
	}
	path := bob.Screenshot(t, "phone", 390, 844)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if w := img.Bounds().Dx(); w != 390 {
		t.Errorf("phone screenshot %d px wide, want 390", w)
	}
}
